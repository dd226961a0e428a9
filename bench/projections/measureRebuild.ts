import { performance } from "node:perf_hooks";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { allProjections } from "../../projections/allProjections.ts";
import { createRegistry, projectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { rebuildProjections } from "../../projections/runtime/rebuildProjections.ts";
import type { BenchmarkEventLog } from "../shared/ensureBenchmarkEventLog.ts";
import type { ProjectionsBenchmarkConfig } from "./ProjectionsBenchmarkConfig.ts";

/** One rebuild of every read model from the whole log. */
export interface RebuildRun {
  /** Events read from the log (`read` of the last progress report). */
  readonly eventsRead: number;
  /** Wall time of `rebuildProjections`: create the builds, fill them, verify and swap each. */
  readonly seconds: number;
  /** Of which filling the builds (until the first projection starts its swap). */
  readonly fillSeconds: number;
}

/**
 * Rebuilds every projection (`allProjections`) from position zero of the benchmark's log into
 * fresh read models under `config.rebuildPrefix` (what was there is dropped first), with the
 * rebuild's defaults (batches of 100,000 events) and a pool sized as the projections CLI sizes it.
 * The read models stay behind for the query runs; the caller drops them.
 * @throws Error when a projection does not end swapped (live).
 */
export async function measureRebuild(
  config: Pick<ProjectionsBenchmarkConfig, "databaseUrl" | "rebuildPrefix" | "rebuildPoolSize">,
  log: BenchmarkEventLog,
  progress: (message: string) => void,
): Promise<RebuildRun> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.rebuildPoolSize });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const store = new PostgresEventStore(pool, { schema: log.schema });
  try {
    const schemas = projectionSchemas(config.rebuildPrefix);
    await createRegistry(db, schemas);
    let eventsRead = 0;
    let reported = 0;
    let filledAt: number | undefined;
    const startedAt = performance.now();
    const results = await rebuildProjections({
      pool,
      db,
      store,
      schemas,
      projections: allProjections,
      signal: new AbortController().signal,
      onProgress: ({ read }) => {
        eventsRead = Math.max(eventsRead, read);
        if (eventsRead - reported < log.events / 4) return;
        reported = eventsRead;
        progress(`  read ${eventsRead} of ${log.events} events`);
      },
      onStep: (_projection, step) => {
        if (step.startsWith("catching up")) filledAt ??= performance.now();
      },
    });
    const seconds = (performance.now() - startedAt) / 1000;
    const failed = results.filter((result) => result.outcome !== "swapped");
    if (failed.length > 0) {
      throw new Error(
        `rebuild did not swap ${failed.map((result) => `${result.projection} (${result.outcome}${"error" in result ? `: ${result.error}` : ""})`).join(", ")}`,
      );
    }
    return {
      eventsRead,
      seconds,
      fillSeconds: ((filledAt ?? performance.now()) - startedAt) / 1000,
    };
  } finally {
    await store.close();
    await db.destroy();
  }
}
