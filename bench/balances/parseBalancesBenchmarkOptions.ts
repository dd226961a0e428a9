import { DEFAULT_IMPORT_CONCURRENCY } from "../../commands/balances/importBalanceRows.ts";
import { oneName, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";
import { UsageError } from "../shared/UsageError.ts";

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
  /** Import the file again into a log of its own that Tidemark's projector follows: the goal's figure. */
  readonly live: boolean;
  /** The file's first rows also pushed one at a time through the command API; 0: none. */
  readonly singlePushRows: number;
  /** Pushes under way at once, each on a keep-alive connection of its own. */
  readonly connections: number;
}

export const BALANCES_BENCHMARK_FLAGS = `  --rows N          balances in the file, one per account (default 1000000)
  --concurrency N   rows decided at once (default ${DEFAULT_IMPORT_CONCURRENCY}, as the import's own)
  --runs N          imports of a fresh file each (default 1); accounts are opened once
  --rebuild 0|1     rebuild every read model over the log after each import (default 1)
  --live 0|1        import the file again into a log of its own with Tidemark's projector following
                    it in its own process, until every read model is current (default 1)
  --single-push-rows N
                    also push the file's first N rows one at a time, POST /accounts/{id}/balances,
                    into a log of their own (default: every row; 0: no single push)
  --connections N   single pushes under way at once, keep-alive (default 64, as bench -- commands)`;

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
    live: { type: "string", default: "1" },
    "single-push-rows": { type: "string", default: "all" },
    connections: { type: "string", default: "64" },
  });
  const rows = wholeNumber("--rows", values.rows, 1000);
  return {
    rows,
    concurrency: wholeNumber("--concurrency", values.concurrency, 1),
    runs: wholeNumber("--runs", values.runs, 1),
    rebuild: oneName("--rebuild", values.rebuild, ["0", "1"]) === "1",
    live: oneName("--live", values.live, ["0", "1"]) === "1",
    singlePushRows: singlePushRows(values["single-push-rows"], rows),
    connections: wholeNumber("--connections", values.connections, 1),
  };
}

/** `all` (the default) or a count of the file's first rows, at most `rows`. */
function singlePushRows(text: string, rows: number): number {
  if (text === "all") return rows;
  const count = wholeNumber("--single-push-rows", text, 0);
  if (count > rows) {
    throw new UsageError(`--single-push-rows must be at most --rows (${rows}), not ${count}`);
  }
  return count;
}
