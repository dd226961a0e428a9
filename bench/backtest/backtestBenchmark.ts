import { performance } from "node:perf_hooks";
import pg from "pg";
import { DEFAULT_BACKTEST_THREADS, backtestThreadsFor } from "../../bin/backtestThreadsFor.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { ensureFreshBuild } from "../../scripts/buildServer.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { runBacktest } from "../../projections/backtest/runBacktest.ts";
import { measureRebuild } from "../projections/measureRebuild.ts";
import { ensureBenchmarkEventLog } from "../shared/ensureBenchmarkEventLog.ts";
import { median } from "../shared/median.ts";
import { parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

export const BACKTEST_BENCHMARK_FLAGS = `  --balances N      balances in the generated log (default 1000000)
  --runs N          runs; the report shows the median and every run (default 3)
  --threads N       threads replaying a part of the log each (default: ${DEFAULT_BACKTEST_THREADS}, the cores up to 2)
  --fresh           generate the log again even if an earlier run's is big enough`;

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const LOG_SCHEMA = "bench_backtest";
// The generator writes about 0.7 balances per event (openings, qualifications, notifications besides).
const EVENTS_PER_BALANCE = 1.45;

/**
 * `npm run bench -- backtest`: the backtest of a candidate rule set (the shipped rules with the
 * low-balance threshold raised to 200.00) over a generated log of `--balances` balances, beside a
 * rebuild of every read model from the same log in the same run: balances/s, and its ratio to the
 * rebuild's events/s. Progress on stderr, a markdown report on stdout.
 */
export async function runBacktestBenchmark(args: readonly string[]): Promise<void> {
  const values = parseBenchmarkFlags(args, {
    balances: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    threads: { type: "string", default: String(DEFAULT_BACKTEST_THREADS) },
    fresh: { type: "boolean", default: false },
  });
  const balances = wholeNumber("--balances", values.balances, 1000);
  const runs = wholeNumber("--runs", values.runs, 1);
  const threads = wholeNumber("--threads", values.threads, 1);
  const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const progress = (message: string) => process.stderr.write(`[backtest] ${message}\n`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  try {
    const log = await ensureBenchmarkEventLog(
      pool,
      LOG_SCHEMA,
      Math.ceil(balances * EVENTS_PER_BALANCE),
      values.fresh,
      progress,
    );
    const { rows } = await pool.query<{ balances: string }>(
      `select count(*) as balances from "${LOG_SCHEMA}".events where event_type = 'BalanceObserved'`,
    );
    const balancesInLog = Number(rows[0]?.balances ?? 0);
    progress(`log: ${log.events} events, ${balancesInLog} balances, ${log.accounts} accounts`);
    if (!(await ensureFreshBuild()))
      throw new Error("the code does not build (npm run build:server says why)");
    const shipped = await loadRules();
    const candidate = shipped.map(raiseLowBalance);
    const templates = await loadTemplates();
    const results: { backtest: number; rebuild: number; seconds: number }[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const store = new PostgresEventStore(pool, { schema: LOG_SCHEMA, readPageSize: 2000 });
      progress(`run ${run}/${runs}: backtest`);
      const startedAt = performance.now();
      const report = await runBacktest(store, {
        rules: candidate,
        actualRules: shipped,
        templates,
        fromMs: 0,
        toMs: Date.UTC(2100, 0, 1),
        // The threads run the worker's bundle, as `npm run rules -- backtest` does.
        threads: backtestThreadsFor({ databaseUrl, schema: LOG_SCHEMA }, threads, { bundled: true }),
      });
      const seconds = (performance.now() - startedAt) / 1000;
      progress(`  ${report.balancesReplayed} balances in ${seconds.toFixed(1)} s`);
      progress(`run ${run}/${runs}: rebuild of every read model`);
      const rebuild = await measureRebuild(
        { databaseUrl, rebuildPrefix: "bench_backtest_rebuild", rebuildPoolSize: 12 },
        log,
        progress,
      );
      results.push({
        backtest: report.balancesReplayed / seconds,
        rebuild: rebuild.eventsRead / rebuild.seconds,
        seconds,
      });
    }
    process.stdout.write(
      formatReport(results, { events: log.events, balances: balancesInLog, accounts: log.accounts }, threads),
    );
  } finally {
    await pool.end();
  }
}

function raiseLowBalance(rule: Rule): Rule {
  if (rule.id !== "low-balance" || rule.kind !== "below") return rule;
  return {
    ...rule,
    version: rule.version + 1,
    threshold: { ...rule.threshold, minor: rule.threshold.minor * 2n },
    rearmAbove: { ...rule.rearmAbove, minor: rule.rearmAbove.minor * 2n },
  };
}

function formatReport(
  results: readonly { backtest: number; rebuild: number; seconds: number }[],
  log: { events: number; balances: number; accounts: number },
  threads: number,
): string {
  const backtest = median(results.map((result) => result.backtest));
  const rebuild = median(results.map((result) => result.rebuild));
  const rate = (value: number) => Math.round(value).toLocaleString("en");
  return [
    `## Backtest benchmark, ${new Date().toISOString()}`,
    "",
    `- Log: ${log.events.toLocaleString("en")} events, ${log.balances.toLocaleString("en")} balances, ${log.accounts.toLocaleString("en")} accounts (test/generateEventLog.ts, seed 1, the shipped rules), schema \`${LOG_SCHEMA}\``,
    "- Candidate: the shipped rules with low-balance at 200.00 / 250.00 instead of 100.00 / 150.00, over the whole log",
    `- Threads: ${threads} (each replays the streams of one part of a shared log snapshot)`,
    "- Rebuild: every read model from position zero (the projections benchmark's measureRebuild), in the same run",
    "",
    "| measure | median | runs |",
    "| --- | ---: | ---: |",
    `| backtest (balances/s) | ${rate(backtest)} | ${results.map((result) => rate(result.backtest)).join(" · ")} |`,
    `| rebuild of every read model (events/s) | ${rate(rebuild)} | ${results.map((result) => rate(result.rebuild)).join(" · ")} |`,
    `| backtest / rebuild | ${(backtest / rebuild).toFixed(2)}× | ${results.map((result) => `${(result.backtest / result.rebuild).toFixed(2)}×`).join(" · ")} |`,
    "",
    "Goal: at least 150,000 balances/s.",
    "",
  ].join("\n");
}
