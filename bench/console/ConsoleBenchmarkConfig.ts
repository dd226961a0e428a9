/**
 * Where the console benchmark keeps its data and how its processes are sized. Printed at the top
 * of the report, so that a figure never travels without the settings that produced it.
 */
export interface ConsoleBenchmarkConfig {
  readonly databaseUrl: string;
  /** Not used by the caches this benchmark compares; the query server's request carries it. */
  readonly redisUrl: string;
  /** The event store schema of the generated log: kept between runs (`--fresh` regenerates it). */
  readonly logSchema: string;
  /** Schema prefix of the rebuilt read models (`<p>_projections`, `<p>_read`, `<p>_rm_*`): dropped at the end. */
  readonly rebuildPrefix: string;
  /** `max` of the rebuild's pool, as the projections CLI sizes it. */
  readonly rebuildPoolSize: number;
  /** `max` of the query API's pool, as `bin/roles/queryApi.ts` sizes it. */
  readonly queryPoolSize: number;
  /** The account with a long history, added to the log by a second `generateEventLog` call. */
  readonly busyAccount: {
    readonly prefix: string;
    /** Events of its history (its own stream and its notifications' streams): its timeline. */
    readonly events: number;
    /** Time between two of its balances: its history fits the days of the rest of the log. */
    readonly stepMs: number;
    readonly seed: number;
  };
  /** The page size the console's timeline asks for, and the largest page the API allows. */
  readonly timelinePage: number;
  readonly largestPage: number;
  /** The browser's window. */
  readonly viewport: { readonly width: number; readonly height: number };
}

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/**
 * The benchmark's settings. `DATABASE_URL` points it at another PostgreSQL (as for the
 * integration tests); everything else is fixed so that runs stay comparable. The schemas are its
 * own, apart from the projections benchmark's (`bench_projections`, `bench_rebuild`), so that the
 * two can run on one server without dropping each other's read models.
 */
export function consoleBenchmarkConfig(env: NodeJS.ProcessEnv): ConsoleBenchmarkConfig {
  return {
    databaseUrl: env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    logSchema: "bench_console_log",
    rebuildPrefix: "bench_console_rebuild",
    rebuildPoolSize: 12,
    queryPoolSize: 20,
    busyAccount: { prefix: "busy", events: 1000, stepMs: 180_000, seed: 2 },
    timelinePage: 100,
    largestPage: 500,
    viewport: { width: 1280, height: 900 },
  };
}
