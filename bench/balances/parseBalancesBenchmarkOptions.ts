import { DEFAULT_IMPORT_CONCURRENCY } from "../../commands/balances/importBalanceRows.ts";
import { oneName, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

/** How big the file is, how it is imported, how often, and what else is measured beside it. */
export interface BalancesBenchmarkOptions {
  /** Balances in the file, one per account. */
  readonly rows: number;
  /** Rows the bulk import decides at once. */
  readonly concurrency: number;
  /** Imports of a fresh file each; the accounts are opened once. */
  readonly runs: number;
  /** Rebuild every read model over the log after each import. */
  readonly rebuild: boolean;
}

export const BALANCES_BENCHMARK_FLAGS = `  --rows N          balances in the file, one per account (default 1000000)
  --concurrency N   rows decided at once (default ${DEFAULT_IMPORT_CONCURRENCY}, as the import's own)
  --runs N          imports of a fresh file each (default 1); accounts are opened once
  --rebuild 0|1     rebuild every read model over the log after each import (default 1)`;

/**
 * Reads the balances benchmark's flags.
 * @throws UsageError for an unknown flag or a value out of range.
 */
export function parseBalancesBenchmarkOptions(args: readonly string[]): BalancesBenchmarkOptions {
  const values = parseBenchmarkFlags(args, {
    rows: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: String(DEFAULT_IMPORT_CONCURRENCY) },
    runs: { type: "string", default: "1" },
    rebuild: { type: "string", default: "1" },
  });
  return {
    rows: wholeNumber("--rows", values.rows, 1000),
    concurrency: wholeNumber("--concurrency", values.concurrency, 1),
    runs: wholeNumber("--runs", values.runs, 1),
    rebuild: oneName("--rebuild", values.rebuild, ["0", "1"]) === "1",
  };
}
