import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { openTestDatabase, type TestDatabase } from "../../../test/postgresTestDatabase.ts";
import type { EventStore } from "../EventStore.ts";
import { event, eventStoreContract } from "../eventStoreContract.ts";
import { PostgresEventStore } from "./PostgresEventStore.ts";

const test = anyTest as TestFn<{ store: EventStore; database: TestDatabase }>;

test.before(async (t) => {
  const database = await openTestDatabase();
  await PostgresEventStore.migrate(database.pool, database.schema);
  t.context.database = database;
  t.context.store = new PostgresEventStore(database.pool, { schema: database.schema });
});

test.after.always(async (t) => {
  await t.context.store.close();
  await t.context.database.dispose();
});

eventStoreContract(test as unknown as TestFn<{ store: EventStore }>, "PostgreSQL");

test("PostgreSQL: migrating twice changes nothing", async (t) => {
  const { pool, schema } = t.context.database;
  await PostgresEventStore.migrate(pool, schema);
  const { rows } = await pool.query<{ name: string }>(
    `select name from "${schema}".event_store_migrations order by name`,
  );
  t.deepEqual(
    rows.map((row) => row.name),
    [
      "0001_events_and_streams",
      "0002_log_imports",
      "0003_import_guard",
      "0004_stream_order_and_unique_event_ids",
    ],
  );
});

test("PostgreSQL: a subscription without metadata does not even carry the key", async (t) => {
  const { store } = t.context;
  const stream = `plain-${randomUUID()}`;
  const appended = await store.append(stream, "no_stream", [event("Plain", { n: 1 })]);
  const subscription = store.subscribeWithoutMetadata({ batchSize: 10_000 });
  let found: object | undefined;
  for await (const message of subscription) {
    if (message.kind === "caughtUp") break;
    found ??= message.events.find((e) => e.streamId === stream);
  }
  await subscription.close();
  if (found === undefined) return t.fail("the appended event was not handed over");
  t.false("metadata" in found);
  t.is((found as { position: string }).position, appended.position);
});
