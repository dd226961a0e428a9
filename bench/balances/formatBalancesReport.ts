import { median } from "../shared/median.ts";
import type { BalancesRunResult } from "./BalancesRunResult.ts";
import type { BalancesBenchmarkOptions } from "./parseBalancesBenchmarkOptions.ts";

/** The markdown report: medians over the runs, and every run's figure beside them. */
export function formatBalancesReport(
  options: BalancesBenchmarkOptions,
  results: readonly BalancesRunResult[],
): string {
  const { rows, concurrency } = options;
  const all = (pick: (result: BalancesRunResult) => number, digits = 1) =>
    results.map((result) => pick(result).toFixed(digits)).join(" · ");
  const importSeconds = median(results.map((result) => result.importSeconds));
  const copySeconds = median(results.map((result) => result.copySeconds));
  const rebuilds = results.flatMap((result) => (result.rebuild === undefined ? [] : [result.rebuild]));
  const events = results.at(-1)?.events ?? 0;
  return [
    `## Balance file import benchmark, ${new Date().toISOString()}`,
    "",
    `- File: ${rows.toLocaleString("en")} balances, one per account, 5% under low-balance's threshold (NDJSON); concurrency ${concurrency}`,
    `- Log after the last run: ${events.toLocaleString("en")} events`,
    "",
    "| measure | median | runs |",
    "| --- | ---: | ---: |",
    `| import until every balance is recorded (s) | ${importSeconds.toFixed(1)} | ${all((result) => result.importSeconds)} |`,
    `| import (balances/s) | ${Math.round(rows / importSeconds).toLocaleString("en")} | ${all((result) => rows / result.importSeconds, 0)} |`,
    `| peak RSS of the importing process (MB) | ${median(results.map((result) => result.importPeakRssMb))} | ${all((result) => result.importPeakRssMb, 0)} |`,
    `| COPY of the same rows into a plain table (s) | ${copySeconds.toFixed(1)} | ${all((result) => result.copySeconds)} |`,
    `| import / COPY (time) | ${(importSeconds / copySeconds).toFixed(1)}× | |`,
    rebuilds.length === 0
      ? "| rebuild of every read model over the log (events/s) | not run (`--rebuild 0`) | |"
      : `| rebuild of every read model over the log (events/s) | ${Math.round(median(rebuilds)).toLocaleString("en")} | ${rebuilds.map((rate) => rate.toFixed(0)).join(" · ")} |`,
    "",
    "Goal: 1,000,000 balances recorded and every read model current in at most 45 s.",
    "",
  ].join("\n");
}
