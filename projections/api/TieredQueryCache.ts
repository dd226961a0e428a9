import type { CachedAnswer, QueryCache } from "./QueryCache.ts";

/**
 * A small in-process cache in front of a shared one (Redis): hot answers skip the network, and
 * replicas still share what one of them computed. Safe because keys carry the answer's position.
 */
export class TieredQueryCache implements QueryCache {
  readonly #near: QueryCache;
  readonly #far: QueryCache;
  readonly #nearTtlMs: number;

  constructor(near: QueryCache, far: QueryCache, nearTtlMs = 1000) {
    this.#near = near;
    this.#far = far;
    this.#nearTtlMs = nearTtlMs;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const near = await this.#near.get(key);
    if (near !== undefined) return near;
    const far = await this.#far.get(key);
    if (far !== undefined) await this.#near.set(key, far, this.#nearTtlMs);
    return far;
  }

  async set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    await Promise.all([
      this.#near.set(key, answer, Math.min(ttlMs, this.#nearTtlMs)),
      this.#far.set(key, answer, ttlMs),
    ]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#near.close(), this.#far.close()]);
  }
}
