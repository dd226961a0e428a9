/**
 * Where the projections benchmark keeps its data and how its processes are sized. Printed at the
 * top of the report, so that a table never travels without the settings that produced it.
 */
export interface ProjectionsBenchmarkConfig {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** The event store schema of the generated log: kept between runs (`--fresh` regenerates it). */
  readonly logSchema: string;
  /** Schema prefix of the rebuilt read models (`<p>_projections`, `<p>_read`, `<p>_rm_*`): dropped at the end. */
  readonly rebuildPrefix: string;
  /** Event store schema and projection prefix of the latency runs: dropped after each run. */
  readonly latencyPrefix: string;
  /** `max` of the rebuild's pool: a lease and a transaction per projection, as the CLI sizes it. */
  readonly rebuildPoolSize: number;
  /** Pools of the servers, as `bin/tidemark.ts` sizes them. */
  readonly commandPoolSize: number;
  readonly projectorPoolSize: number;
  readonly queryPoolSize: number;
  /** Accounts opened before the latency runs; pushes go round them. */
  readonly latencyAccounts: number;
  /** Account ids the cached-query runs cycle through (`gen-0` …): all cached after the first round. */
  readonly queryAccounts: number;
  /** Pause between two reads of the registry while measuring latency. */
  readonly checkpointPollMs: number;
  /** Unmeasured seconds of queries before each measured query run. */
  readonly queryWarmupSeconds: number;
}

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/**
 * The benchmark's settings. `DATABASE_URL` and `REDIS_URL` (as for the integration tests) point it
 * at other servers; everything else is fixed so that runs stay comparable.
 */
export function projectionsBenchmarkConfig(env: NodeJS.ProcessEnv): ProjectionsBenchmarkConfig {
  return {
    databaseUrl: env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    logSchema: "bench_projections",
    rebuildPrefix: "bench_rebuild",
    latencyPrefix: "bench_latency",
    rebuildPoolSize: 12,
    commandPoolSize: 20,
    projectorPoolSize: 10,
    queryPoolSize: 20,
    latencyAccounts: 5000,
    queryAccounts: 100,
    checkpointPollMs: 1,
    queryWarmupSeconds: 1,
  };
}
