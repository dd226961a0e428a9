import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { BenchmarkDatabaseAdmin } from "../shared/BenchmarkDatabaseAdmin.ts";
import { describeBenchmarkEnvironment } from "../shared/describeBenchmarkEnvironment.ts";
import { describeWorkingTree } from "../shared/describeWorkingTree.ts";
import { dropSchemasWithPrefix } from "../shared/dropSchemasWithPrefix.ts";
import { ensureBenchmarkEventLog, type BenchmarkEventLog } from "../shared/ensureBenchmarkEventLog.ts";
import { eventStoreBenchmarkConfig } from "../eventstore/EventStoreBenchmarkConfig.ts";
import { formatProjectionsReport } from "./formatProjectionsReport.ts";
import { measureCachedQueries, type QueryRun } from "./measureCachedQueries.ts";
import { measureProjectionLatency, type LatencyRun } from "./measureProjectionLatency.ts";
import { measureRebuild, type RebuildRun } from "./measureRebuild.ts";
import { parseProjectionsBenchmarkOptions } from "./parseProjectionsBenchmarkOptions.ts";
import { projectionsBenchmarkConfig } from "./ProjectionsBenchmarkConfig.ts";
import type { BenchQueryCache } from "./ProjectionsBenchmarkServerRequest.ts";
import { startLinuxCpuMeter } from "../shared/startLinuxCpuMeter.ts";

const QUERY_CACHES: readonly BenchQueryCache[] = ["memory", "redis", "none"];
/** What the numbers depend on, for the report's note on uncommitted changes. */
const CODE_UNDER_TEST = ["projections", "commands", "gateways", "domain", "test/generateEventLog.ts"];
/** The machine is watched this long before the first measurement; busier than this draws a warning. */
const QUIET_CHECK_MS = 1000;
const QUIET_WARNING_PERCENT = 15;

/**
 * `npm run bench -- projections`: how fast every read model is rebuilt from a generated log of a
 * million events, how long after a command's answer every read model reflects it under a steady
 * load at 70% of the command API's peak, and how many cached `GET /accounts/{id}` the query API
 * answers per second (memory cache, memory + Redis, and no cache for contrast). Each is the median
 * of `--runs` runs. Progress goes to stderr, the markdown report to stdout. Every schema it creates
 * is dropped at the end except the event log's (`bench_projections`), which later runs reuse.
 * @throws UsageError for bad flags; Error for anything that makes the numbers untrustworthy.
 */
export async function runProjectionsBenchmark(args: readonly string[]): Promise<void> {
  const options = parseProjectionsBenchmarkOptions(args);
  const config = projectionsBenchmarkConfig(process.env);
  const admin = await BenchmarkDatabaseAdmin.connect({
    ...eventStoreBenchmarkConfig(process.env),
    databaseUrl: config.databaseUrl,
  });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  const wants = new Set(options.measurements);
  let log: BenchmarkEventLog | undefined;
  const rebuild: RebuildRun[] = [];
  const latency: LatencyRun[] = [];
  const queries = new Map<BenchQueryCache, QueryRun[]>();
  try {
    const environment = await describeBenchmarkEnvironment(admin);
    const workingTree = describeWorkingTree(CODE_UNDER_TEST);
    const machineBusyBeforePercent = await machineBusyPercent(QUIET_CHECK_MS);
    if (machineBusyBeforePercent > QUIET_WARNING_PERCENT) {
      progress(
        `warning: the machine was ${machineBusyBeforePercent.toFixed(0)}% busy before the benchmark started; other work skews every number`,
      );
    }
    if (wants.has("rebuild") || wants.has("queries")) {
      log = await ensureBenchmarkEventLog(pool, config.logSchema, options.events, options.fresh, progress);
      progress(
        log.reused
          ? `reusing the event log in schema ${log.schema}: ${log.events} events (generated ${log.generatedAt.toISOString()}; --fresh regenerates it)`
          : `generated the event log in schema ${log.schema}: ${log.events} events in ${log.generationSeconds.toFixed(0)} s (kept for later runs)`,
      );
    }
    if (log !== undefined) {
      const runs = wants.has("rebuild") ? options.runs : 1;
      for (let run = 1; run <= runs; run += 1) {
        progress(
          wants.has("rebuild")
            ? `rebuild · run ${run}/${runs}`
            : "rebuilding the read models for the query runs (not measured)",
        );
        await dropSchemasWithPrefix(pool, config.rebuildPrefix);
        const result = await measureRebuild(config, log, progress);
        progress(
          `  ${Math.round(result.eventsRead / result.seconds)} events/s (${result.eventsRead} events in ${result.seconds.toFixed(1)} s, filling ${result.fillSeconds.toFixed(1)} s)`,
        );
        if (wants.has("rebuild")) rebuild.push(result);
      }
    }
    if (wants.has("latency")) {
      for (let run = 1; run <= options.runs; run += 1) {
        progress(`latency · run ${run}/${options.runs}`);
        const result = await measureProjectionLatency(config, options, progress);
        progress(
          `  achieved ${Math.round(result.achievedRequestsPerSecond)} req/s; answer → read models p50 ${result.projection.p50.toFixed(1)} ms, p99 ${result.projection.p99.toFixed(1)} ms, max ${result.projection.max.toFixed(1)} ms (${result.projection.count} answers, ${result.neverProjected} never projected)`,
        );
        latency.push(result);
      }
    }
    if (wants.has("queries")) {
      // Interleaved (run 1 of every cache, then run 2 …) so drift hits all caches alike.
      for (let run = 1; run <= options.runs; run += 1) {
        for (const cache of QUERY_CACHES) {
          progress(`queries · run ${run}/${options.runs} · ${cache}`);
          const result = await measureCachedQueries(config, options, cache);
          progress(
            `  ${Math.round(result.requestsPerSecond)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`,
          );
          queries.set(cache, [...(queries.get(cache) ?? []), result]);
        }
      }
    }
    process.stdout.write(
      formatProjectionsReport(
        { machineBusyBeforePercent, workingTree, log, rebuild, latency, queries },
        options,
        config,
        environment,
      ),
    );
  } finally {
    const dropped = await dropSchemasWithPrefix(pool, config.rebuildPrefix);
    if (dropped.length > 0) progress(`dropped ${dropped.join(", ")}`);
    await pool.end();
    await admin.close();
  }
}

/** How busy the whole machine is over `ms` while this process waits: another load would skew the runs. */
async function machineBusyPercent(ms: number): Promise<number> {
  const cpu = startLinuxCpuMeter([process.pid]);
  await sleep(ms);
  return cpu().machinePercent;
}

function progress(message: string): void {
  process.stderr.write(`[projections] ${message}\n`);
}
