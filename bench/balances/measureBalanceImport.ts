import { createReadStream } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { BalanceImports } from "../../commands/balances/BalanceImports.ts";
import { digestOf, importBalanceFile } from "../../commands/balances/importBalanceFile.ts";
import type { RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { trackPeakRss } from "./trackPeakRss.ts";

/** What the bulk import of one file needs: its log, its batches, the rules, how many rows at once. */
export interface BalanceImportTarget {
  readonly store: EventStore;
  readonly imports: BalanceImports;
  readonly rules: RulesInForce;
  readonly concurrency: number;
}

/** One bulk import: seconds until every row is recorded, and the process's peak RSS meanwhile. */
export interface BalanceImportRun {
  readonly seconds: number;
  readonly peakRssMb: number;
}

/**
 * Imports the NDJSON file `file` of `rows` balances with `importBalanceFile`, as
 * `npm run balances -- import` does, sampling this process's RSS.
 * @throws Error when the import recorded fewer balances than the file holds.
 */
export async function measureBalanceImport(
  target: BalanceImportTarget,
  file: string,
  rows: number,
  progress: (message: string) => void,
): Promise<BalanceImportRun> {
  const peak = trackPeakRss();
  const startedAt = performance.now();
  const result = await importBalanceFile({
    imports: target.imports,
    store: target.store,
    rules: target.rules,
    clock: Date.now,
    file: {
      name: path.basename(file),
      digest: await digestOf(createReadStream(file)),
      format: "ndjson",
      open: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
    },
    requestedBy: "benchmark",
    concurrency: target.concurrency,
    commitEvery: 10_000,
    onProgress: (row) => {
      if (row % 200_000 === 0) progress(`  row ${row}`);
    },
  });
  const seconds = (performance.now() - startedAt) / 1000;
  const peakRssMb = peak.stop();
  const { counts } = result.batch;
  if (counts.recorded !== rows) {
    throw new Error(`the import recorded ${counts.recorded} of ${rows} rows: ${JSON.stringify(counts)}`);
  }
  return { seconds, peakRssMb };
}
