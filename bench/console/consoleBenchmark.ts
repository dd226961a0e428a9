import { execFileSync } from "node:child_process";
import pg from "pg";
import { CHROMIUM_PATH } from "../../test/browser/launchChromium.ts";
import { eventStoreBenchmarkConfig } from "../eventstore/EventStoreBenchmarkConfig.ts";
import { measureRebuild, type RebuildRun } from "../projections/measureRebuild.ts";
import { BenchmarkDatabaseAdmin } from "../shared/BenchmarkDatabaseAdmin.ts";
import { describeBenchmarkEnvironment } from "../shared/describeBenchmarkEnvironment.ts";
import { describeWorkingTree } from "../shared/describeWorkingTree.ts";
import { dropSchemasWithPrefix } from "../shared/dropSchemasWithPrefix.ts";
import { buildConsole } from "./buildConsole.ts";
import { consoleBenchmarkConfig, type ConsoleBenchmarkConfig } from "./ConsoleBenchmarkConfig.ts";
import { ensureConsoleEventLog, type ConsoleEventLog } from "./ensureConsoleEventLog.ts";
import { formatConsoleReport } from "./formatConsoleReport.ts";
import { measureConsoleBundle } from "./measureConsoleBundle.ts";
import { measureWithQueryCaches, type QueryCacheResults } from "./measureWithQueryCaches.ts";
import {
  type ConsoleBenchmarkOptions,
  parseConsoleBenchmarkOptions,
} from "./parseConsoleBenchmarkOptions.ts";
import { readConsoleFixtures, type ConsoleFixtures } from "./readConsoleFixtures.ts";
import { sampleMachineLoad, type LabelledLoad } from "./sampleMachineLoad.ts";

/** What the numbers depend on, for the report's note on uncommitted changes. */
const CODE_UNDER_TEST = ["console", "projections", "http", "test/generateEventLog.ts"];

/** The read models and what they hold, when a measurement needs them. */
interface ConsoleData {
  readonly log: ConsoleEventLog;
  readonly rebuild: RebuildRun;
  readonly fixtures: ConsoleFixtures;
}

/**
 * `npm run bench -- console`: the operator console over a log of a million events. Builds the
 * console and measures its JavaScript (gzip -9, and what a first visit transfers); rebuilds every
 * read model from the log (plus one account with a ~1,000-event history); then, against the query
 * API in a child process, first with no query cache and then with the memory cache: the
 * overview's first render in Chromium (browser cache cold and warm), the customer page's timeline
 * and rule states, and the API requests behind them. Progress goes to stderr, the markdown report
 * to stdout. The read models are dropped at the end; the log (`bench_console_log`) is kept.
 * @throws UsageError for bad flags; Error for anything that makes the numbers untrustworthy.
 */
export async function runConsoleBenchmark(args: readonly string[]): Promise<void> {
  const options = parseConsoleBenchmarkOptions(args);
  const config = consoleBenchmarkConfig(process.env);
  const admin = await BenchmarkDatabaseAdmin.connect({
    ...eventStoreBenchmarkConfig(process.env),
    databaseUrl: config.databaseUrl,
  });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  try {
    const environment = await describeBenchmarkEnvironment(admin);
    const loads: LabelledLoad[] = [{ label: "before the benchmark", load: await sampleMachineLoad() }];
    progress(
      `the machine: load average ${loads[0]?.load.loadAverage.toFixed(2)}, ${loads[0]?.load.busyPercent.toFixed(0)}% busy`,
    );
    progress("building the console (npm run build:console)");
    await buildConsole();
    const bundle = await measureConsoleBundle();
    const wantsPages = options.measurements.some((measurement) => measurement !== "bundle");
    const data = wantsPages ? await prepareData(pool, config, options) : undefined;
    const caches: QueryCacheResults[] =
      data === undefined
        ? []
        : await measureWithQueryCaches(config, options, data.log, data.fixtures, loads, progress);
    loads.push({ label: "after the benchmark", load: await sampleMachineLoad() });
    process.stdout.write(
      formatConsoleReport(
        {
          bundle,
          ...data,
          caches,
          loads,
          workingTree: describeWorkingTree(CODE_UNDER_TEST),
          chromium: chromiumVersion(),
        },
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

/** The log (generated or reused), every read model rebuilt from it, and what they hold. */
async function prepareData(
  pool: pg.Pool,
  config: ConsoleBenchmarkConfig,
  options: ConsoleBenchmarkOptions,
): Promise<ConsoleData> {
  const log = await ensureConsoleEventLog(pool, config, options, progress);
  progress(
    log.reused
      ? `reusing the event log in schema ${log.schema}: ${log.events} events (generated ${log.generatedAt.toISOString()}; --fresh regenerates it)`
      : `generated the event log in schema ${log.schema}: ${log.events} events`,
  );
  progress("rebuilding every read model from the log (rebuildProjections)");
  await dropSchemasWithPrefix(pool, config.rebuildPrefix);
  const rebuild = await measureRebuild(config, log, progress);
  progress(`  ${rebuild.eventsRead} events in ${rebuild.seconds.toFixed(1)} s`);
  const fixtures = await readConsoleFixtures(pool, `${config.rebuildPrefix}_read`, log.busyAccountId);
  progress(
    `${log.busyAccountId}: ${fixtures.busyTimelineEvents} timeline entries; last report day ${fixtures.lastReportDay}`,
  );
  return { log, rebuild, fixtures };
}

function chromiumVersion(): string {
  try {
    const output = execFileSync(CHROMIUM_PATH, ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return output.trim().split("\n").at(-1) ?? "unknown";
  } catch {
    return "unknown";
  }
}

function progress(message: string): void {
  process.stderr.write(`[console] ${message}\n`);
}
