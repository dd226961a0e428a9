import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { BalanceImports } from "../../commands/balances/BalanceImports.ts";
import type { RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { allProjections } from "../../projections/allProjections.ts";
import { projectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { createIsolatedServices, type IsolatedServices } from "../../test/isolatedServices.ts";
import { startSystemProcess, type SystemProcess } from "../../test/systemProcess.ts";
import { measureBalanceImport } from "./measureBalanceImport.ts";
import { openBenchmarkAccounts } from "./openBenchmarkAccounts.ts";

/** Where the system keeps its projection registry and the import's batches: the default prefix's. */
const SCHEMAS = projectionSchemas("tidemark");

/** A database of its own with the file's accounts opened, and Tidemark's projector following its log. */
export interface LiveImportTarget {
  readonly services: IsolatedServices;
  readonly pool: pg.Pool;
  readonly system: SystemProcess;
  readonly store: PostgresEventStore;
  readonly imports: BalanceImports;
  readonly rules: RulesInForce;
  readonly concurrency: number;
}

/** One import with the projector following: until every row is recorded, and until every read model has it. */
export interface LiveImportRun {
  /** Seconds from the import's start until every row is recorded. */
  readonly recordedSeconds: number;
  /** Seconds from the import's start until every live read model has reached the log's head. */
  readonly currentSeconds: number;
  /** Peak RSS of the importing process (the projector runs in another). */
  readonly peakRssMb: number;
}

/**
 * A fresh database with `rows` accounts opened (as the import's log: `openBenchmarkAccounts`),
 * then Tidemark started on it in a process of its own with the projector (and the query API,
 * which the system needs beside it to start), waited for until every read model has every
 * account: the state a bank's end-of-day file meets, read models current before it comes.
 */
export async function prepareLiveImport(
  options: { readonly rows: number; readonly concurrency: number; readonly rules: RulesInForce },
  progress: (message: string) => void,
): Promise<LiveImportTarget> {
  const services = await createIsolatedServices("bench");
  const pool = new pg.Pool({ connectionString: services.env.DATABASE_URL, max: options.concurrency + 8 });
  try {
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool);
    const openedAt = performance.now();
    await openBenchmarkAccounts(store, options.rows, progress);
    progress(`  ${options.rows} accounts opened in ${((performance.now() - openedAt) / 1000).toFixed(1)} s`);
    const system = await startSystemProcess({
      roles: ["projector", "query-api"],
      env: { ...services.env, REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
      startTimeoutMs: 180_000,
    });
    try {
      const projectedAt = performance.now();
      await waitUntilCurrent(pool, store, progress);
      progress(
        `  every read model has them ${((performance.now() - projectedAt) / 1000).toFixed(1)} s later`,
      );
      // The import's batches where `npm run balances -- import` keeps them on this database.
      const imports = new BalanceImports(pool, SCHEMAS.runtime);
      await imports.migrate();
      return {
        services,
        pool,
        system,
        store,
        imports,
        rules: options.rules,
        concurrency: options.concurrency,
      };
    } catch (error) {
      await system.stop();
      throw error;
    }
  } catch (error) {
    await pool.end();
    await services.drop(progress);
    throw error;
  }
}

/** Stops the system, then drops its database. */
export async function closeLiveImport(
  target: LiveImportTarget,
  progress: (message: string) => void,
): Promise<void> {
  await target.system.stop();
  await target.pool.end();
  await target.services.drop(progress);
}

/**
 * Imports `file` as `measureBalanceImport` does while the system's projector follows the log,
 * and waits until every live read model has reached the log's head as it stood when the last
 * row was recorded.
 */
export async function measureLiveImport(
  target: LiveImportTarget,
  file: string,
  rows: number,
  progress: (message: string) => void,
): Promise<LiveImportRun> {
  const startedAt = performance.now();
  const imported = await measureBalanceImport(target, file, rows, progress);
  const recordedSeconds = (performance.now() - startedAt) / 1000;
  progress(`  ${rows} rows recorded in ${recordedSeconds.toFixed(1)} s; waiting for the read models`);
  await waitUntilCurrent(target.pool, target.store, progress);
  const currentSeconds = (performance.now() - startedAt) / 1000;
  return { recordedSeconds, currentSeconds, peakRssMb: imported.peakRssMb };
}

/**
 * Polls (every 100 ms) until a live build of every projection has a checkpoint at or past the
 * log's head as it is now; a failed build fails the wait. Positions are fixed-width hex text, so
 * they compare as text.
 */
async function waitUntilCurrent(
  pool: pg.Pool,
  store: PostgresEventStore,
  progress: (message: string) => void,
): Promise<void> {
  const head = await store.head();
  if (head === undefined) throw new Error("the log is empty: nothing to wait for");
  const deadline = performance.now() + 30 * 60_000;
  let told = performance.now();
  for (;;) {
    const { rows } = await pool
      .query<{ current: string; behind: string; least: string | null; failed: string | null }>(
        `select count(*) filter (where status = 'live' and position >= $1) as current,
                count(*) filter (where status = 'live' and position < $1) as behind,
                min(position) filter (where status = 'live') as least,
                string_agg(name || ': ' || coalesce(error, 'failed'), '; ') filter (where status = 'failed') as failed
           from "${SCHEMAS.runtime}".projection_builds`,
        [head],
      )
      .catch((error: unknown) => {
        // The registry does not exist until the projector has started.
        if ((error as { code?: unknown }).code === "42P01") return { rows: [] };
        throw error;
      });
    const [row] = rows;
    // A failed build never catches up: say so now, not after the deadline.
    if (row?.failed != null) throw new Error(`a read model's build failed: ${row.failed}`);
    if (row !== undefined && Number(row.current) >= allProjections.length && Number(row.behind) === 0) return;
    if (performance.now() > deadline)
      throw new Error(`the read models not current after 30 minutes (head ${head})`);
    if (performance.now() - told > 10_000) {
      told = performance.now();
      progress(
        `    read models: ${row?.current ?? 0} current, ${row?.behind ?? 0} behind (least ${row?.least ?? "-"})`,
      );
    }
    await sleep(100);
  }
}
