import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { CachedAnswer, QueryCache } from "./QueryCache.ts";

/**
 * Query answers in Redis, shared by every query API replica. Redis failing costs speed, never
 * correctness: a failed read is a miss, a failed write is dropped, and the outage is logged once.
 */
export class RedisQueryCache implements QueryCache {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #logger: Logger;
  #failing = false;

  constructor(redis: Redis, logger: Logger, prefix = "tidemark:query:") {
    this.#redis = redis;
    this.#logger = logger;
    this.#prefix = prefix;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    try {
      const text = await this.#redis.get(this.#prefix + key);
      this.#recovered();
      return text === null ? undefined : (JSON.parse(text) as CachedAnswer);
    } catch (error) {
      this.#failed(error);
      return undefined;
    }
  }

  async set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    try {
      await this.#redis.set(this.#prefix + key, JSON.stringify(answer), "PX", ttlMs);
      this.#recovered();
    } catch (error) {
      this.#failed(error);
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    await Promise.resolve();
  }

  #failed(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#logger.warn({ err: error }, "query cache: Redis unavailable; answering from PostgreSQL");
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#logger.info("query cache: Redis answers again");
  }
}
