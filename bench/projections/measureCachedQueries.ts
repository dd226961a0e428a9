import autocannon from "autocannon";
import type { ProjectionsBenchmarkOptions } from "./parseProjectionsBenchmarkOptions.ts";
import type { ProjectionsBenchmarkConfig } from "./ProjectionsBenchmarkConfig.ts";
import { BENCH_READER_KEY, type BenchQueryCache } from "./ProjectionsBenchmarkServerRequest.ts";
import { startLinuxCpuMeter, type CpuReading } from "../shared/startLinuxCpuMeter.ts";
import { startProjectionsBenchmarkServer } from "./startProjectionsBenchmarkServer.ts";

/** One measured query run against one cache. */
export interface QueryRun {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpu: CpuReading;
}

/**
 * One run of `GET /accounts/{id}` against the query API (in a child process, over the rebuilt read
 * models under `config.rebuildPrefix`) with `cache`: closed-loop autocannon at
 * `options.connections` connections cycling through `config.queryAccounts` account ids, with a key
 * that has `queries:read`. An unmeasured warm-up run first fills the cache and warms the JIT; no
 * projector runs, so the positions, and with them the cache keys, stay put.
 * @throws Error when any answer is not 200 (e.g. the read models lack an account).
 */
export async function measureCachedQueries(
  config: ProjectionsBenchmarkConfig,
  options: ProjectionsBenchmarkOptions,
  cache: BenchQueryCache,
): Promise<QueryRun> {
  const server = await startProjectionsBenchmarkServer({
    role: "queries",
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    prefix: config.rebuildPrefix,
    logSchema: config.logSchema,
    poolSize: config.queryPoolSize,
    cache,
  });
  try {
    const load = (seconds: number) =>
      autocannon({
        url: server.url,
        connections: options.connections,
        duration: seconds,
        headers: { authorization: `Bearer ${BENCH_READER_KEY}` },
        requests: Array.from({ length: config.queryAccounts }, (_, index) => ({
          method: "GET" as const,
          path: `/accounts/gen-${index}`,
        })),
      });
    await load(config.queryWarmupSeconds);
    const cpu = startLinuxCpuMeter([server.pid]);
    const result = await load(options.seconds);
    const cpuReading = cpu();
    const failures = result.non2xx + result.errors + result.timeouts;
    if (failures > 0) {
      throw new Error(`GET /accounts/{id} with the ${cache} cache: ${failures} answers were not 2xx`);
    }
    return {
      requestsPerSecond: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      cpu: cpuReading,
    };
  } finally {
    await server.stop();
  }
}
