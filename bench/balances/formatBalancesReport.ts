import { median } from "../shared/median.ts";
import type { BalancesRunResult } from "./BalancesRunResult.ts";
import type { LiveImportRun } from "./measureLiveImport.ts";
import type { SinglePushRun } from "./measureSinglePush.ts";
import type { BalancesBenchmarkOptions } from "./parseBalancesBenchmarkOptions.ts";

/** A table row's cells after the measure: the median, and every run's figure. */
type Figures = (pick: (result: BalancesRunResult) => number, digits?: number) => string;

/**
 * The markdown report: medians over the runs, and every run's figure beside them; the bulk
 * import, the single pushes and COPY as rates of the same rows, and the ratios between them.
 */
export function formatBalancesReport(
  options: BalancesBenchmarkOptions,
  results: readonly BalancesRunResult[],
): string {
  const { rows, concurrency } = options;
  const all: Figures = (pick, digits = 1) =>
    results.map((result) => pick(result).toFixed(digits)).join(" · ");
  const importSeconds = median(results.map((result) => result.importSeconds));
  const copySeconds = median(results.map((result) => result.copySeconds));
  const rebuilds = results.flatMap((result) => (result.rebuild === undefined ? [] : [result.rebuild]));
  const events = results.at(-1)?.events ?? 0;
  const singlePush = singlePushLines(results, all, {
    importRate: rows / importSeconds,
    copyRate: rows / copySeconds,
  });
  return [
    `## Balance file import benchmark, ${new Date().toISOString()}`,
    "",
    `- File: ${rows.toLocaleString("en")} balances, one per account, 5% under low-balance's threshold (NDJSON); concurrency ${concurrency}`,
    `- Single push: ${describeSinglePush(options)}`,
    `- The import's log after the last run: ${events.toLocaleString("en")} events`,
    "",
    "| measure | median | runs |",
    "| --- | ---: | ---: |",
    `| import until every balance is recorded (s) | ${importSeconds.toFixed(1)} | ${all((result) => result.importSeconds)} |`,
    `| import (balances/s) | ${integer(rows / importSeconds)} | ${all((result) => rows / result.importSeconds, 0)} |`,
    `| peak RSS of the importing process (MB) | ${median(results.map((result) => result.importPeakRssMb))} | ${all((result) => result.importPeakRssMb, 0)} |`,
    ...singlePush.measures,
    `| COPY of the same rows into a plain table (s) | ${copySeconds.toFixed(2)} | ${all((result) => result.copySeconds, 2)} |`,
    `| COPY (rows/s) | ${integer(rows / copySeconds)} | ${all((result) => rows / result.copySeconds, 0)} |`,
    ...singlePush.importRatio,
    `| import / COPY (time) | ${(importSeconds / copySeconds).toFixed(1)}× | |`,
    ...singlePush.copyRatio,
    rebuilds.length === 0
      ? "| rebuild of every read model over the log (events/s) | not run (`--rebuild 0`) | |"
      : `| rebuild of every read model over the log (events/s) | ${integer(median(rebuilds))} | ${rebuilds.map((rate) => rate.toFixed(0)).join(" · ")} |`,
    ...liveLines(results),
    "",
    "Goal: 1,000,000 balances recorded and every read model current in at most 45 s (the last row).",
    "",
  ].join("\n");
}

function describeSinglePush({ rows, singlePushRows, connections }: BalancesBenchmarkOptions): string {
  if (singlePushRows === 0) return "not run (`--single-push-rows 0`)";
  const which =
    singlePushRows === rows
      ? `every row of the same file (${rows.toLocaleString("en")})`
      : `**a sample**: the same file's first ${singlePushRows.toLocaleString("en")} of ${rows.toLocaleString("en")} rows`;
  return `${which}, one \`POST /accounts/{id}/balances\` each (no Idempotency-Key), ${connections} keep-alive connections, to the command API in a process of its own, over a log of its own with the same accounts and earlier balances as the import's`;
}

/** The single pushes' rows of the table, and their ratios to the import and to COPY (by rate). */
function singlePushLines(
  results: readonly BalancesRunResult[],
  all: Figures,
  { importRate, copyRate }: { importRate: number; copyRate: number },
): { measures: string[]; importRatio: string[]; copyRatio: string[] } {
  const pushes = results.flatMap((result) => (result.singlePush === undefined ? [] : [result.singlePush]));
  if (pushes.length === 0) {
    return {
      measures: ["| single push | not run (`--single-push-rows 0`) | |"],
      importRatio: [],
      copyRatio: [],
    };
  }
  const pushed = (pick: (push: SinglePushRun) => number, digits?: number) =>
    all((result) => (result.singlePush === undefined ? Number.NaN : pick(result.singlePush)), digits);
  const pushSeconds = median(pushes.map((push) => push.seconds));
  // Every run pushes as many rows; the rate from the median time, as the import's.
  const pushRate = (pushes[0]?.rows ?? 0) / pushSeconds;
  const peaks = pushes.flatMap((push) => (push.serverPeakRssMb === undefined ? [] : [push.serverPeakRssMb]));
  const measures = [
    `| single push until every balance is answered (s) | ${pushSeconds.toFixed(1)} | ${pushed((push) => push.seconds)} |`,
    `| single push (balances/s) | ${integer(pushRate)} | ${pushed((push) => push.rows / push.seconds, 0)} |`,
    ...(peaks.length === 0
      ? ["| peak RSS of the command API process (MB) | n/a (no /proc) | |"]
      : [
          `| peak RSS of the command API process (MB) | ${median(peaks)} | ${pushed((push) => push.serverPeakRssMb ?? Number.NaN, 0)} |`,
          `| peak RSS of the command API process once listening, before any push (MB) | ${median(pushes.map((push) => push.serverReadyRssMb ?? Number.NaN))} | ${pushed((push) => push.serverReadyRssMb ?? Number.NaN, 0)} |`,
        ]),
  ];
  return {
    measures,
    importRatio: [`| import / single push (balances/s) | ${(importRate / pushRate).toFixed(1)}× | |`],
    copyRatio: [`| single push / COPY (time a row) | ${(copyRate / pushRate).toFixed(1)}× | |`],
  };
}

/** The import with the projector following: until recorded, and until every read model is current. */
function liveLines(results: readonly BalancesRunResult[]): string[] {
  const runs = results.flatMap((result) => (result.live === undefined ? [] : [result.live]));
  if (runs.length === 0) {
    return [
      "| with the projector following: every balance recorded and every read model current (s) | not run (`--live 0`) | |",
    ];
  }
  const each = (pick: (run: LiveImportRun) => number) => runs.map((run) => pick(run).toFixed(1)).join(" · ");
  return [
    `| with the projector following: every balance recorded (s) | ${median(runs.map((run) => run.recordedSeconds)).toFixed(1)} | ${each((run) => run.recordedSeconds)} |`,
    `| **with the projector following: every balance recorded and every read model current (s)** | **${median(runs.map((run) => run.currentSeconds)).toFixed(1)}** | ${each((run) => run.currentSeconds)} |`,
  ];
}

function integer(value: number): string {
  return Math.round(value).toLocaleString("en");
}
