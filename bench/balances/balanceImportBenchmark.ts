import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { BalanceImports } from "../../commands/balances/BalanceImports.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { fixedRules } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { pino } from "pino";
import { measureRebuild } from "../projections/measureRebuild.ts";
import { dropSchemasWithPrefix } from "../shared/dropSchemasWithPrefix.ts";
import type { BalancesRunResult } from "./BalancesRunResult.ts";
import { copyBalanceRows } from "./copyBalanceRows.ts";
import { countRecordedBalances } from "./countRecordedBalances.ts";
import { formatBalancesReport } from "./formatBalancesReport.ts";
import { measureBalanceImport, type BalanceImportTarget } from "./measureBalanceImport.ts";
import {
  closeLiveImport,
  measureLiveImport,
  prepareLiveImport,
  type LiveImportRun,
  type LiveImportTarget,
} from "./measureLiveImport.ts";
import { measureSinglePush, type SinglePushRun, type SinglePushTarget } from "./measureSinglePush.ts";
import { openBenchmarkAccounts } from "./openBenchmarkAccounts.ts";
import {
  parseBalancesBenchmarkOptions,
  type BalancesBenchmarkOptions,
} from "./parseBalancesBenchmarkOptions.ts";
import { writeBalanceFiles } from "./writeBalanceFiles.ts";

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const SCHEMA = "bench_balances";
// The single pushes' log: beside the import's, so that each path starts from the same accounts.
const SINGLE_PUSH_SCHEMA = `${SCHEMA}_push`;

/** What every run of the benchmark works with. */
interface BalancesBenchmark {
  readonly options: BalancesBenchmarkOptions;
  readonly databaseUrl: string;
  readonly pool: pg.Pool;
  readonly importTarget: BalanceImportTarget;
  readonly singlePushTarget: SinglePushTarget;
  /** Where each run's files are written. */
  readonly directory: string;
  readonly progress: (message: string) => void;
  /** The log the projector follows: made at the first run's live import (`--live 1`), kept for the others. */
  live?: LiveImportTarget;
}

/**
 * `npm run bench -- balances`: an end-of-day file of `--rows` balances (one per account, 5% under
 * the low-balance threshold) imported through `importBalanceFile`, as `npm run balances -- import`
 * does: rows/s until every balance is recorded, the peak RSS, then a rebuild of every read model
 * over the resulting log; beside it, PostgreSQL `COPY` (psql's \\copy) of the same rows into a
 * plain table, the figure that travels between machines; then the file's first
 * `--single-push-rows` rows pushed one at a time through the command API, into a log of their own
 * whose accounts are opened and balanced as the import's are; and last (`--live 1`) the same file
 * imported into a database of its own that Tidemark's projector follows, until every read model is
 * current: the goal's figure.
 */
export async function runBalanceImportBenchmark(args: readonly string[]): Promise<void> {
  const options = parseBalancesBenchmarkOptions(args);
  const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const progress = (message: string) => process.stderr.write(`[balances] ${message}\n`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.concurrency + 8 });
  const directory = await mkdtemp(path.join(os.tmpdir(), "bench-balances-"));
  try {
    // The logs, the batches and an earlier run's rebuilt read models: all from scratch.
    await dropSchemasWithPrefix(pool, SCHEMA);
    const importTarget = await prepareImportLog(pool, options, progress);
    const singlePushTarget = {
      databaseUrl,
      pool,
      schema: SINGLE_PUSH_SCHEMA,
      connections: options.connections,
    };
    const benchmark: BalancesBenchmark = {
      options,
      databaseUrl,
      pool,
      importTarget,
      singlePushTarget,
      directory,
      progress,
    };
    try {
      const results: BalancesRunResult[] = [];
      for (let run = 1; run <= options.runs; run += 1) results.push(await measureRun(benchmark, run));
      process.stdout.write(formatBalancesReport(options, results));
    } finally {
      if (benchmark.live !== undefined) await closeLiveImport(benchmark.live, progress);
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
    await pool.end();
  }
}

/** The import's log, from scratch, with every account of the file opened; its batches table. */
async function prepareImportLog(
  pool: pg.Pool,
  options: BalancesBenchmarkOptions,
  progress: (message: string) => void,
): Promise<BalanceImportTarget> {
  await PostgresEventStore.migrate(pool, SCHEMA);
  const store = new PostgresEventStore(pool, { schema: SCHEMA });
  const openedAt = performance.now();
  await openBenchmarkAccounts(store, options.rows, progress);
  progress(`${options.rows} accounts opened in ${((performance.now() - openedAt) / 1000).toFixed(1)} s`);
  const imports = new BalanceImports(pool, `${SCHEMA}_runtime`);
  await imports.migrate();
  return { store, imports, rules: fixedRules(await loadRules()), concurrency: options.concurrency };
}

/**
 * One run: a fresh file, its import, COPY of the same rows, the rebuild if asked for, then the
 * single pushes. They come last so that the import, COPY and rebuild are measured as they were
 * before there were single pushes (no other path's writes before them to vacuum or checkpoint, no
 * other path's set-up in this process's RSS); their log is apart, its accounts opened just before
 * the first push as the import's just before the first import, so they find the state the import
 * found: the same accounts, and the earlier runs' balances.
 */
async function measureRun(benchmark: BalancesBenchmark, run: number): Promise<BalancesRunResult> {
  const { options, pool, progress } = benchmark;
  const { rows, runs } = options;
  // Each run a newer balance per account, so that each is recorded, not found already there.
  const referenceTime = epochMsToInstant(Date.now() - (runs - run + 1) * 60_000);
  const file = path.join(benchmark.directory, `eod-${run}.ndjson`);
  const csv = path.join(benchmark.directory, `eod-${run}.csv`);
  await writeBalanceFiles(file, csv, rows, referenceTime);
  await checkpoint(pool, progress);
  progress(`run ${run}/${runs}: import`);
  const imported = await measureBalanceImport(benchmark.importTarget, file, rows, progress);
  const recorded = await countRecordedBalances(pool, SCHEMA, referenceTime);
  if (recorded !== rows) throw new Error(`the import left ${recorded} of ${rows} balances recorded`);
  progress(`  ${rows} rows in ${imported.seconds.toFixed(1)} s, peak RSS ${imported.peakRssMb} MB`);
  progress(`run ${run}/${runs}: COPY of the same rows into a plain table`);
  const copySeconds = await copyBalanceRows(benchmark.databaseUrl, `"${SCHEMA}".copied_balances`, csv);
  const events = Number(
    (await pool.query<{ n: string }>(`select count(*) as n from "${SCHEMA}".events`)).rows[0]?.n ?? 0,
  );
  const rebuild = options.rebuild ? await rebuildReadModels(benchmark, run, events) : undefined;
  const singlePush = await pushOneAtATime(benchmark, run, file, referenceTime);
  const live = options.live ? await importWithProjector(benchmark, run, file) : undefined;
  return {
    importSeconds: imported.seconds,
    importPeakRssMb: imported.peakRssMb,
    copySeconds,
    events,
    rebuild,
    singlePush,
    live,
  };
}

/**
 * The same file into a log of its own that Tidemark's projector follows (`measureLiveImport`):
 * the goal's figure, every balance recorded and every read model current. Last in the run, so
 * that nothing else measured shares the machine with the projector.
 */
async function importWithProjector(
  benchmark: BalancesBenchmark,
  run: number,
  file: string,
): Promise<LiveImportRun> {
  const { options, progress } = benchmark;
  progress(`run ${run}/${options.runs}: import with the projector following`);
  if (benchmark.live === undefined) {
    progress("  a log of its own, the accounts opened, Tidemark started on it (projector, query API)");
    benchmark.live = await prepareLiveImport(
      { rows: options.rows, concurrency: options.concurrency, rules: benchmark.importTarget.rules },
      progress,
    );
  }
  await checkpoint(benchmark.live.pool, progress);
  const live = await measureLiveImport(benchmark.live, file, options.rows, progress);
  progress(`  every read model current ${live.currentSeconds.toFixed(1)} s after the import started`);
  return live;
}

/**
 * Every import starts just after a checkpoint: one falling inside some runs and not others (the
 * accounts' opening writes enough to bring one on) would spread them. A role that may not ask for
 * one (`npm run services` grants `pg_checkpoint`) is told, and the runs go on without.
 */
async function checkpoint(pool: pg.Pool, progress: (message: string) => void): Promise<void> {
  try {
    await pool.query("checkpoint");
  } catch (error) {
    if ((error as { code?: unknown }).code !== "42501") throw error;
    progress("  no checkpoint before the import: the role lacks pg_checkpoint (npm run services grants it)");
  }
}

/** The file's first `--single-push-rows` rows through the command API; undefined for none. */
async function pushOneAtATime(
  benchmark: BalancesBenchmark,
  run: number,
  file: string,
  referenceTime: string,
): Promise<SinglePushRun | undefined> {
  const { options, progress } = benchmark;
  const rows = options.singlePushRows;
  if (rows === 0) return undefined;
  // Opened here, not with the import's: this process's RSS before the import stays as it was.
  if (run === 1) await prepareSinglePushLog(benchmark.pool, rows, progress);
  const sample = rows < options.rows ? ` (a sample: the first ${rows} of ${options.rows})` : "";
  progress(
    `run ${run}/${options.runs}: single push of ${rows} rows${sample}, ${options.connections} connections`,
  );
  const pushed = await measureSinglePush(benchmark.singlePushTarget, file, rows, referenceTime, progress);
  const peak = pushed.serverPeakRssMb === undefined ? "" : `, server's peak RSS ${pushed.serverPeakRssMb} MB`;
  progress(`  ${rows} rows in ${pushed.seconds.toFixed(1)} s${peak}`);
  return pushed;
}

/**
 * The single pushes' log, from scratch, with the file's first `rows` accounts opened as the
 * import's are, and the command API's idempotency table.
 */
async function prepareSinglePushLog(
  pool: pg.Pool,
  rows: number,
  progress: (message: string) => void,
): Promise<void> {
  await PostgresEventStore.migrate(pool, SINGLE_PUSH_SCHEMA);
  await new IdempotencyStore(pool, SINGLE_PUSH_SCHEMA, pino({ level: "silent" })).migrate();
  const store = new PostgresEventStore(pool, { schema: SINGLE_PUSH_SCHEMA });
  const openedAt = performance.now();
  await openBenchmarkAccounts(store, rows, progress);
  progress(
    `${rows} accounts opened for the single pushes in ${((performance.now() - openedAt) / 1000).toFixed(1)} s`,
  );
  await store.close();
}

/** Events a second of a rebuild of every read model over the import's log, from scratch. */
async function rebuildReadModels(benchmark: BalancesBenchmark, run: number, events: number): Promise<number> {
  const { options, pool, progress } = benchmark;
  progress(`run ${run}/${options.runs}: rebuild of every read model over the log`);
  await dropSchemasWithPrefix(pool, `${SCHEMA}_rebuild`);
  const rebuild = await measureRebuild(
    { databaseUrl: benchmark.databaseUrl, rebuildPrefix: `${SCHEMA}_rebuild`, rebuildPoolSize: 12 },
    {
      schema: SCHEMA,
      events,
      accounts: options.rows,
      reused: false,
      generatedAt: new Date(),
      generationSeconds: 0,
    },
    progress,
  );
  return rebuild.eventsRead / rebuild.seconds;
}
