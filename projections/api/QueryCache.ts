/** A query answer as the cache keeps it: everything needed to send it again, byte for byte. */
export interface CachedAnswer {
  readonly contentType: string;
  readonly body: string;
  readonly etag: string;
  /** The answer reflects at least this position (the floor read before the query ran). */
  readonly position: string;
}

/**
 * Where query answers are kept. Keys include the position the answer reflects, so an entry can
 * never stand in for newer data; a cache that fails only costs speed (`get` answers undefined).
 */
export interface QueryCache {
  get(key: string): Promise<CachedAnswer | undefined>;
  set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}
