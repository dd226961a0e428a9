import { BENCH_READER_KEY } from "../projections/ProjectionsBenchmarkServerRequest.ts";
import { startProjectionsBenchmarkServer } from "../projections/startProjectionsBenchmarkServer.ts";
import type { ConsoleBenchmarkConfig } from "./ConsoleBenchmarkConfig.ts";
import { consolePaintTargets } from "./consolePaintTargets.ts";
import type { ConsoleEventLog } from "./ensureConsoleEventLog.ts";
import type { LabelledLoad } from "./sampleMachineLoad.ts";
import { type ConsoleApiRequests, measureConsoleApi, type ConsoleApiTimings } from "./measureConsoleApi.ts";
import { measureCustomerTimeline, type CustomerRun } from "./measureCustomerTimeline.ts";
import { measureOverviewRender, type OverviewMeasurement } from "./measureOverviewRender.ts";
import { measureTransferredBytes, type TransferredBytes } from "./measureTransferredBytes.ts";
import { type ConsoleBrowser, openConsoleBrowser } from "./openConsoleBrowser.ts";
import type { ConsoleBenchmarkOptions } from "./parseConsoleBenchmarkOptions.ts";
import type { ConsoleFixtures } from "./readConsoleFixtures.ts";
import { sampleMachineLoad } from "./sampleMachineLoad.ts";

/**
 * The query API's answer caches compared: none (every answer computed from PostgreSQL, as after
 * every projector advance in a live system: the cache key holds the read models' position) and
 * the in-process memory cache once an answer is in it.
 */
export type ConsoleQueryCache = "none" | "memory";

const QUERY_CACHES: readonly ConsoleQueryCache[] = ["none", "memory"];

/** Everything measured against one query API; a measurement not asked for is undefined. */
export interface QueryCacheResults {
  readonly cache: ConsoleQueryCache;
  readonly overviewCold?: OverviewMeasurement;
  readonly overviewWarm?: OverviewMeasurement;
  readonly customer?: readonly CustomerRun[];
  readonly api?: ConsoleApiTimings;
  /** A first and a return visit's traffic (measured against the first server only). */
  readonly transferred?: { readonly cold: TransferredBytes; readonly warm: TransferredBytes };
}

const DAY_MS = 86_400_000;

/**
 * Starts the query API (a child process, over the rebuilt read models, console served) once per
 * query cache and runs the measurements asked for against it; the machine's load is sampled before
 * each (into `loads`).
 */
export async function measureWithQueryCaches(
  config: ConsoleBenchmarkConfig,
  options: ConsoleBenchmarkOptions,
  log: ConsoleEventLog,
  fixtures: ConsoleFixtures,
  loads: LabelledLoad[],
  progress: (message: string) => void,
): Promise<QueryCacheResults[]> {
  const results: QueryCacheResults[] = [];
  for (const cache of QUERY_CACHES) {
    const measure = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
      const load = await sampleMachineLoad();
      loads.push({ label: `${label}, query cache ${cache}`, load });
      progress(
        `${label} · query cache ${cache} · load average ${load.loadAverage.toFixed(2)}, ${load.busyPercent.toFixed(0)}% busy`,
      );
      return run();
    };
    results.push(await measureWithQueryCache(config, options, log, fixtures, cache, measure));
  }
  return results;
}

async function measureWithQueryCache(
  config: ConsoleBenchmarkConfig,
  options: ConsoleBenchmarkOptions,
  log: ConsoleEventLog,
  fixtures: ConsoleFixtures,
  cache: ConsoleQueryCache,
  measure: <T>(label: string, run: () => Promise<T>) => Promise<T>,
): Promise<QueryCacheResults> {
  const wants = new Set(options.measurements);
  const runs = options.runs;
  const server = await startProjectionsBenchmarkServer({
    role: "queries",
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    prefix: config.rebuildPrefix,
    logSchema: config.logSchema,
    poolSize: config.queryPoolSize,
    cache,
  });
  const today = new Date(`${fixtures.lastReportDay}T12:00:00.000Z`);
  let browser: ConsoleBrowser | undefined;
  try {
    const result: { -readonly [K in keyof QueryCacheResults]: QueryCacheResults[K] } = { cache };
    if (wants.has("overview") || wants.has("customer")) {
      browser = await openConsoleBrowser({
        viewport: config.viewport,
        apiKey: BENCH_READER_KEY,
        today,
        targets: consolePaintTargets(fixtures.busyTimelineEvents),
      });
    }
    const open = browser;
    if (open !== undefined && wants.has("overview")) {
      result.overviewCold = await measure("overview, browser cache cold", () =>
        measureOverviewRender(open, server.url, "cold", runs),
      );
      result.overviewWarm = await measure("overview, browser cache warm", () =>
        measureOverviewRender(open, server.url, "warm", runs),
      );
      if (cache === QUERY_CACHES[0]) {
        result.transferred = {
          cold: await measureTransferredBytes(open, server.url, "cold"),
          warm: await measureTransferredBytes(open, server.url, "warm"),
        };
      }
    }
    if (open !== undefined && wants.has("customer")) {
      result.customer = await measure("customer timeline", () =>
        measureCustomerTimeline(open, server.url, log.busyAccountId, fixtures.busyTimelineEvents, runs),
      );
    }
    if (wants.has("api")) {
      const requests = apiRequests(config, log, fixtures, today);
      result.api = await measure("API", () => measureConsoleApi(server.url, requests, runs));
    }
    return result;
  } finally {
    await browser?.close();
    await server.stop();
  }
}

/** The requests behind the overview and the busy account's customer page. */
function apiRequests(
  config: ConsoleBenchmarkConfig,
  log: ConsoleEventLog,
  fixtures: ConsoleFixtures,
  today: Date,
): ConsoleApiRequests {
  return {
    apiKey: BENCH_READER_KEY,
    accountId: log.busyAccountId,
    expectedEntries: fixtures.busyTimelineEvents,
    funnelPath: `/reports/funnel?from=${day(today, -6)}&to=${day(today, 0)}`,
    page: config.timelinePage,
    largestPage: config.largestPage,
  };
}

function day(today: Date, offsetDays: number): string {
  return new Date(today.getTime() + offsetDays * DAY_MS).toISOString().slice(0, 10);
}
