/** The command API's key (may record balances) and the query API's (may read, no PII). */
export const BENCH_WRITER_KEY = "bench-writer-key-0123456789abcdef";
export const BENCH_READER_KEY = "bench-reader-key-0123456789abcdef";

/** The query caches compared: in-process, in-process in front of Redis, and none (always a miss). */
export type BenchQueryCache = "memory" | "redis" | "none";

/**
 * What `projectionsBenchmarkServer.ts` is asked to serve (as JSON in its argv). Kept apart from
 * the server's entry point: importing that module runs the server.
 */
export type ProjectionsBenchmarkServerRequest =
  | {
      readonly role: "commands";
      readonly databaseUrl: string;
      /** The event store schema, and the prefix of the projections' schemas. */
      readonly prefix: string;
      readonly commandPoolSize: number;
      /** The projector's pool in this process; none: the projector runs in a process of its own. */
      readonly projectorPoolSize: number | undefined;
    }
  | {
      readonly role: "projector";
      readonly databaseUrl: string;
      readonly prefix: string;
      readonly projectorPoolSize: number;
    }
  | {
      readonly role: "queries";
      readonly databaseUrl: string;
      readonly redisUrl: string;
      /** The prefix of the projections' schemas (registry and read views). */
      readonly prefix: string;
      /** The event store schema the read models were built from (the operations routes' log head and lag). */
      readonly logSchema: string;
      readonly poolSize: number;
      readonly cache: BenchQueryCache;
    };
