import type { CachedAnswer, QueryCache } from "./QueryCache.ts";

/** A bounded in-process cache: least recently used entries go first, each expires after its TTL. */
export class MemoryQueryCache implements QueryCache {
  readonly #entries = new Map<string, { answer: CachedAnswer; expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries = 10_000, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get(key: string): Promise<CachedAnswer | undefined> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return Promise.resolve(undefined);
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return Promise.resolve(undefined);
    this.#entries.set(key, entry); // most recently used goes last
    return Promise.resolve(entry.answer);
  }

  set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    this.#entries.delete(key);
    this.#entries.set(key, { answer, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }
}
