import { Kysely, PostgresDialect } from "kysely";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import type pg from "pg";
import { applyEvents } from "../projections/runtime/applyEvents.ts";
import type { AnyProjection } from "../projections/runtime/Projection.ts";

/**
 * For read-model tests: creates `schema`, sets the projection up in it and applies every event of
 * its types in the log, `batchSize` events per statement (the runner's unit of work). Returns a
 * Kysely over the pool for the test's queries.
 */
export async function applyProjection(
  pool: pg.Pool,
  store: EventStore,
  projection: AnyProjection,
  schema: string,
  batchSize = 500,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test types its own queries
): Promise<Kysely<any>> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  await pool.query(`create schema if not exists "${schema}"`);
  await projection.setUp(db, schema);
  let batch: Parameters<AnyProjection["foldBatch"]>[1][number][] = [];
  const flush = async () => {
    const events = batch;
    batch = [];
    await applyEvents(db, projection, events, schema);
  };
  for await (const event of store.readAll()) {
    if (!projection.eventTypes.has(event.type)) continue;
    batch.push(event);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return db;
}
