import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import pg from "pg";
import { BalanceImports } from "../../commands/balances/BalanceImports.ts";
import { digestOf, importBalanceFile } from "../../commands/balances/importBalanceFile.ts";
import { DEFAULT_IMPORT_CONCURRENCY } from "../../commands/balances/importBalanceRows.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { fixedRules } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { measureRebuild } from "../projections/measureRebuild.ts";
import { dropSchemasWithPrefix } from "../shared/dropSchemasWithPrefix.ts";
import { median } from "../shared/median.ts";
import { parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

export const BALANCES_BENCHMARK_FLAGS = `  --rows N          balances in the file, one per account (default 1000000)
  --concurrency N   rows decided at once (default 256, as the import's own)
  --runs N          imports of a fresh file each (default 1); accounts are opened once
  --rebuild 0|1     rebuild every read model over the log after each import (default 1)`;

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const SCHEMA = "bench_balances";
const OPENING_WRITERS = 64;

/**
 * `npm run bench -- balances`: an end-of-day file of `--rows` balances (one per account, 5% under
 * the low-balance threshold) imported through `importBalanceFile`, as `npm run balances -- import`
 * does: rows/s until every balance is recorded, the peak RSS, then a rebuild of every read model
 * over the resulting log; beside it, PostgreSQL `COPY` (psql's \\copy) of the same rows into a
 * plain table, the figure that travels between machines.
 */
export async function runBalanceImportBenchmark(args: readonly string[]): Promise<void> {
  const values = parseBenchmarkFlags(args, {
    rows: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: String(DEFAULT_IMPORT_CONCURRENCY) },
    runs: { type: "string", default: "1" },
    rebuild: { type: "string", default: "1" },
  });
  const rows = wholeNumber("--rows", values.rows, 1000);
  const concurrency = wholeNumber("--concurrency", values.concurrency, 1);
  const runs = wholeNumber("--runs", values.runs, 1);
  if (values.rebuild !== "0" && values.rebuild !== "1") throw new Error("--rebuild takes 0 or 1");
  const rebuilding = values.rebuild === "1";
  const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const progress = (message: string) => process.stderr.write(`[balances] ${message}\n`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency + 8 });
  const directory = await mkdtemp(path.join(os.tmpdir(), "bench-balances-"));
  try {
    // The log, the batches and an earlier run's rebuilt read models: all from scratch.
    await dropSchemasWithPrefix(pool, SCHEMA);
    await PostgresEventStore.migrate(pool, SCHEMA);
    const store = new PostgresEventStore(pool, { schema: SCHEMA });
    const openedAt = performance.now();
    await openAccounts(store, rows, progress);
    progress(`${rows} accounts opened in ${((performance.now() - openedAt) / 1000).toFixed(1)} s`);
    const imports = new BalanceImports(pool, `${SCHEMA}_runtime`);
    await imports.migrate();
    const rules = fixedRules(await loadRules());
    const results: RunResult[] = [];
    for (let run = 1; run <= runs; run += 1) {
      // Each run a newer balance per account, so that each is recorded, not found already there.
      const referenceMs = Date.now() - (runs - run + 1) * 60_000;
      const file = path.join(directory, `eod-${run}.ndjson`);
      const csv = path.join(directory, `eod-${run}.csv`);
      await writeFiles(file, csv, rows, epochMsToInstant(referenceMs));
      progress(`run ${run}/${runs}: import`);
      const peak = trackPeakRss();
      const startedAt = performance.now();
      const result = await importBalanceFile({
        imports,
        store,
        rules,
        clock: Date.now,
        file: {
          name: path.basename(file),
          digest: await digestOf(createReadStream(file)),
          format: "ndjson",
          open: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
        },
        requestedBy: "benchmark",
        concurrency,
        commitEvery: 10_000,
        onProgress: (row) => {
          if (row % 200_000 === 0) progress(`  row ${row}`);
        },
      });
      const importSeconds = (performance.now() - startedAt) / 1000;
      const peakRssMb = peak.stop();
      const { counts } = result.batch;
      if (counts.recorded !== rows) {
        throw new Error(`the import recorded ${counts.recorded} of ${rows} rows: ${JSON.stringify(counts)}`);
      }
      progress(`  ${rows} rows in ${importSeconds.toFixed(1)} s, peak RSS ${peakRssMb} MB`);
      progress(`run ${run}/${runs}: COPY of the same rows into a plain table`);
      const copySeconds = await copyRows(databaseUrl, csv);
      const events = Number(
        (await pool.query<{ n: string }>(`select count(*) as n from "${SCHEMA}".events`)).rows[0]?.n ?? 0,
      );
      if (!rebuilding) {
        results.push({ importSeconds, peakRssMb, copySeconds, events, rebuild: undefined });
        continue;
      }
      progress(`run ${run}/${runs}: rebuild of every read model over the log`);
      await dropSchemasWithPrefix(pool, `${SCHEMA}_rebuild`);
      const rebuild = await measureRebuild(
        { databaseUrl, rebuildPrefix: "bench_balances_rebuild", rebuildPoolSize: 12 },
        {
          schema: SCHEMA,
          events,
          accounts: rows,
          reused: false,
          generatedAt: new Date(),
          generationSeconds: 0,
        },
        progress,
      );
      results.push({
        importSeconds,
        peakRssMb,
        copySeconds,
        events,
        rebuild: rebuild.eventsRead / rebuild.seconds,
      });
    }
    process.stdout.write(formatReport(rows, concurrency, results));
  } finally {
    await rm(directory, { recursive: true, force: true });
    await pool.end();
  }
}

interface RunResult {
  readonly importSeconds: number;
  readonly peakRssMb: number;
  readonly copySeconds: number;
  readonly events: number;
  /** Events a second; undefined with `--rebuild 0`. */
  readonly rebuild: number | undefined;
}

/** `count` GBP accounts, `bench-1` …, opened by appending their AccountOpened events directly. */
async function openAccounts(
  store: PostgresEventStore,
  count: number,
  progress: (message: string) => void,
): Promise<void> {
  let next = 1;
  const openedAt = epochMsToInstant(Date.now() - 86_400_000);
  const writer = async () => {
    while (next <= count) {
      const index = next;
      next += 1;
      await store.append(`account-bench-${index}`, "no_stream", [
        {
          id: newEventId(),
          type: "AccountOpened",
          data: {
            accountId: `bench-${index}`,
            customerId: `c-${index}`,
            phone: "+447911123456",
            currency: "GBP",
            timeZone: "Europe/London",
            consents: { service: true, marketing: false },
            openedAt,
          },
          metadata: { correlationId: "bench", actor: "benchmark" },
        },
      ]);
      if (index % 200_000 === 0) progress(`  ${index} accounts opened`);
    }
  };
  await Promise.all(Array.from({ length: OPENING_WRITERS }, writer));
}

/** The same balances as NDJSON (the import's) and as CSV (COPY's): 5% at 50.00, the rest 500.00. */
async function writeFiles(ndjson: string, csv: string, rows: number, referenceTime: string): Promise<void> {
  const json = createWriteStream(ndjson);
  const text = createWriteStream(csv);
  text.write("account_id,amount,currency,balance_type,reference_time\n");
  for (let index = 1; index <= rows; index += 1) {
    const amount = index % 20 === 0 ? "50.00" : "500.00";
    const wroteJson = json.write(
      `{"accountId":"bench-${index}","amount":"${amount}","currency":"GBP","balanceType":"ClosingBooked","referenceTime":"${referenceTime}"}\n`,
    );
    const wroteText = text.write(`bench-${index},${amount},GBP,ClosingBooked,${referenceTime}\n`);
    if (!wroteJson) await new Promise<void>((resolve) => json.once("drain", () => resolve()));
    if (!wroteText) await new Promise<void>((resolve) => text.once("drain", () => resolve()));
  }
  await Promise.all([
    new Promise<void>((resolve) => json.end(() => resolve())),
    new Promise<void>((resolve) => text.end(() => resolve())),
  ]);
}

/** Seconds for psql's \copy of `csv` into a fresh plain table (the server's COPY, fed by psql). */
async function copyRows(databaseUrl: string, csv: string): Promise<number> {
  const table = `"${SCHEMA}".copied_balances`;
  const psql = (command: string) =>
    promisify(execFile)("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-c", command]);
  await psql(`drop table if exists ${table}`);
  await psql(
    `create table ${table} (account_id text not null, amount numeric not null, currency text not null, balance_type text not null, reference_time timestamptz not null)`,
  );
  const startedAt = performance.now();
  await psql(`\\copy ${table} from '${csv}' with (format csv, header true)`);
  return (performance.now() - startedAt) / 1000;
}

/** Samples the process's RSS every 100 ms; `stop` answers the highest, in MB. */
function trackPeakRss(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage.rss()) / 1024 / 1024);
    },
  };
}

function formatReport(rows: number, concurrency: number, results: readonly RunResult[]): string {
  const all = (pick: (result: RunResult) => number, digits = 1) =>
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
    `| peak RSS of the importing process (MB) | ${median(results.map((result) => result.peakRssMb))} | ${all((result) => result.peakRssMb, 0)} |`,
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
