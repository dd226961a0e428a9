import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { allProjections } from "../projections/allProjections.ts";
import { createRegistry, listBuilds, projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { rebuildProjections } from "../projections/runtime/rebuildProjections.ts";

/**
 * Builds every read model from position zero (a blue/green rebuild, as the projection CLI runs
 * it) under `schemaPrefix`, and returns each one's digest; `drop()` removes their schemas.
 */
export async function rebuildReadModels(
  pool: pg.Pool,
  store: EventStore,
  schemaPrefix: string,
): Promise<{ digests: Map<string, string>; drop: () => Promise<void> }> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const schemas = projectionSchemas(schemaPrefix);
  await createRegistry(db, schemas);
  const results = await rebuildProjections({
    pool,
    db,
    store,
    schemas,
    projections: allProjections,
    signal: new AbortController().signal,
  });
  const digests = new Map<string, string>();
  for (const result of results) {
    if (result.outcome !== "swapped")
      throw new Error(`rebuild of ${result.projection}: ${JSON.stringify(result)}`);
    digests.set(result.projection, result.digest.digest);
  }
  return {
    digests,
    async drop() {
      for (const build of await listBuilds(db, schemas)) {
        await pool.query(`drop schema if exists "${build.buildSchema}" cascade`);
      }
      await pool.query(`drop schema if exists "${schemas.read}" cascade`);
      await pool.query(`drop schema if exists "${schemas.runtime}" cascade`);
    },
  };
}
