import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { openTestDatabase, type TestDatabase } from "../../../test/postgresTestDatabase.ts";
import type { EventStore } from "../EventStore.ts";
import { event, eventStoreContract } from "../eventStoreContract.ts";
import { PostgresEventStore, preparedStatementTexts } from "./PostgresEventStore.ts";

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

test("PostgreSQL: readStreams folds several streams from one read: each one's events in revision order, missing ones absent", async (t) => {
  const { store } = t.context;
  const [first, second, missing] = [`many-${randomUUID()}`, `many-${randomUUID()}`, `many-${randomUUID()}`];
  // Interleaved, so that the log's order is not the streams' order.
  await store.append(first, "no_stream", [event("A", { n: 0 }), event("A", { n: 1 })]);
  await store.append(second, "no_stream", [event("B", { n: 0 })]);
  await store.append(first, 1, [event("A", { n: 2 })]);
  await store.append(second, 0, [event("B", { n: 1 }), event("B", { n: 2 })]);
  if (store.readStreams === undefined) return t.fail("PostgreSQL reads several streams at once");
  const streams = await store.readStreams([second, missing, first]);
  t.deepEqual([...streams.keys()].sort(), [first, second].sort(), "a stream without events is absent");
  for (const streamId of [first, second]) {
    const one = streams.get(streamId) ?? [];
    const alone = [];
    for await (const recorded of store.readStream(streamId)) alone.push(recorded);
    t.deepEqual(
      one.map(({ revision, type, data, id, position }) => ({ revision, type, data, id, position })),
      alone.map(({ revision, type, data, id, position }) => ({ revision, type, data, id, position })),
      `${streamId} as readStream reads it`,
    );
    t.false(
      one.some((recorded) => "metadata" in recorded),
      "without metadata",
    );
  }
  t.is((await store.readStreams([])).size, 0);
});

test("every statement prepared under a name keeps an index scan in its generic plan, never a scan of the whole log", async (t) => {
  const { pool, schema } = t.context.database;
  // A log big enough that reading all of it is never the cheap way (20,000 events; on a few
  // hundred, a scan of the table is rightly cheapest).
  for (let stream = 0; stream < 400; stream += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, offset) =>
        t.context.store.append(
          `s-${stream + offset}`,
          "any",
          Array.from({ length: 50 }, () => event("Probed")),
        ),
      ),
    );
  }
  await pool.query(`analyze "${schema}".events`);
  await pool.query(`analyze "${schema}".log_origin`);
  const values: Record<keyof ReturnType<typeof preparedStatementTexts>, string> = {
    readStreamForwards: "'s-1', 0, 100",
    readStreamBackwards: "'s-1', 9223372036854775807, 1",
    readStreams: "array['s-1', 's-2']",
    readAll: "0, 0, 1000",
    readAllWithoutMetadata: "0, 0, 1000",
    head: "",
  };
  const client = await pool.connect();
  try {
    // What a connection keeps after a few runs of a named statement, whatever the values.
    await client.query("set plan_cache_mode = force_generic_plan");
    for (const [key, text] of Object.entries(preparedStatementTexts(schema))) {
      await client.query(`prepare probe_${key} as ${text}`);
      const argumentsOf = values[key as keyof typeof values];
      const { rows } = await client.query<{ "QUERY PLAN": string }>(
        `explain execute probe_${key}${argumentsOf === "" ? "" : `(${argumentsOf})`}`,
      );
      const plan = rows.map((row) => row["QUERY PLAN"]).join("\n");
      t.notRegex(plan, /Seq Scan on events/, `${key}:\n${plan}`);
      t.regex(plan, /Index (Only )?Scan/, key);
    }
  } finally {
    client.release();
  }
});
