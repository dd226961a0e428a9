import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { openTestDatabase, type TestDatabase } from "../../../test/postgresTestDatabase.ts";
import fc from "fast-check";
import type { EventStore, ReadStreamOptions } from "../EventStore.ts";
import { collect, event, eventStoreContract } from "../eventStoreContract.ts";
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

test("PostgreSQL: stream reads that wait for a slot leave together, and each reads what it would alone", async (t) => {
  const { pool, schema } = t.context.database;
  const prefix = `pages-${randomUUID()}`;
  // Streams of 0 to 7 events, interleaved in the log.
  for (let round = 0; round < 7; round += 1) {
    await Promise.all(
      Array.from({ length: 8 }, (_, stream) =>
        stream > round
          ? t.context.store.append(`${prefix}-${stream}`, "any", [event("Paged", { stream, round })])
          : Promise.resolve(),
      ),
    );
  }
  const statements: string[] = [];
  const counted = new Proxy(pool, {
    get: (target, key) =>
      key === "query"
        ? (config: string | { text: string }, values?: unknown[]) => {
            statements.push(typeof config === "string" ? config : config.text);
            return target.query(config as string, values);
          }
        : (Reflect.get(target, key, target) as unknown),
  });
  // One read slot and pages of 3: every read but the first waits, and streams span pages.
  const store = new PostgresEventStore(counted, { schema, readPageSize: 3, maxInFlightReads: 1 });
  const readAll = async (streamId: string, options: ReadStreamOptions) => {
    const events = [];
    for await (const recorded of store.readStream(streamId, options)) {
      events.push({ id: recorded.id, revision: recorded.revision, metadata: recorded.metadata });
    }
    return events;
  };
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record(
            {
              stream: fc.integer({ min: 0, max: 8 }), // 8: a stream that does not exist
              fromRevision: fc.integer({ min: 0, max: 8 }),
              maxCount: fc.integer({ min: 1, max: 8 }),
              direction: fc.constantFrom<"forwards" | "backwards">("forwards", "backwards"),
            },
            { requiredKeys: ["stream"] },
          ),
          { minLength: 1, maxLength: 12 },
        ),
        async (reads) => {
          const alone = [];
          statements.length = 0;
          for (const { stream, ...options } of reads)
            alone.push(await readAll(`${prefix}-${stream}`, options));
          const aloneStatements = statements.length;
          statements.length = 0;
          const together = await Promise.all(
            reads.map(({ stream, ...options }) => readAll(`${prefix}-${stream}`, options)),
          );
          t.deepEqual(together, alone);
          const forwardReads = reads.filter((read) => read.direction !== "backwards").length;
          if (forwardReads >= 3) {
            t.true(
              statements.length < aloneStatements,
              `${statements.length} of ${aloneStatements} statements`,
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  } finally {
    await store.close();
  }
});

test("PostgreSQL: a forward read's pages hold at most maxBatchReadRows / maxBatchReads events, so a batch of them is bounded", async (t) => {
  const { pool, schema } = t.context.database;
  const streamId = `bounded-${randomUUID()}`;
  await t.context.store.append(
    streamId,
    "no_stream",
    Array.from({ length: 7 }, (_, n) => event("Bounded", { n })),
  );
  let statements = 0;
  const counted = new Proxy(pool, {
    get: (target, key) =>
      key === "query"
        ? (config: { text: string; values?: unknown[] }) => {
            statements += 1;
            return target.query(config);
          }
        : (Reflect.get(target, key, target) as unknown),
  });
  const store = new PostgresEventStore(counted, { schema, maxBatchReads: 4, maxBatchReadRows: 8 });
  try {
    const forwards = await collect(store.readStream(streamId));
    t.deepEqual(
      forwards.map((recorded) => recorded.data),
      Array.from({ length: 7 }, (_, n) => ({ n })),
    );
    t.is(statements, 4, "pages of two");
    statements = 0;
    t.is((await collect(store.readStream(streamId, { direction: "backwards" }))).length, 7);
    t.is(statements, 1, "a backward read keeps readPageSize");
  } finally {
    await store.close();
  }
});

test("PostgreSQL: reads batched in a statement that fails are made again one by one; a stream id no append takes reads nothing", async (t) => {
  const { pool, schema } = t.context.database;
  const prefix = `retried-${randomUUID()}`;
  for (let n = 0; n < 4; n += 1) {
    await t.context.store.append(`${prefix}-${n}`, "no_stream", [event("Kept", { n })]);
  }
  let failures = 0;
  const failing = new Proxy(pool, {
    get: (target, key) =>
      key === "query"
        ? (config: { text: string; values?: unknown[] }) => {
            if (config.text.includes("with ordinality") && failures === 0) {
              failures += 1;
              return Promise.reject(new Error("Connection terminated unexpectedly"));
            }
            return target.query(config);
          }
        : (Reflect.get(target, key, target) as unknown),
  });
  // Asked for in one tick, the reads leave together.
  const store = new PostgresEventStore(failing, { schema, maxInFlightReads: 1 });
  try {
    const streams = [0, 1, 2, 3].map((n) => `${prefix}-${n}`);
    const [nothing, blank, ...reads] = await Promise.all(
      [`${prefix}-\u0000`, " ", ...streams].map((streamId) => collect(store.readStream(streamId))),
    );
    t.is(failures, 1, "the batched statement failed once");
    t.deepEqual(
      reads.map((events) => events.map((recorded) => recorded.data)),
      [0, 1, 2, 3].map((n) => [{ n }]),
      "each read answered alone",
    );
    t.deepEqual([nothing, blank], [[], []]);
  } finally {
    await store.close();
  }
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
    readStreamPages: "array['s-1', 's-2'], array[0, 5]::bigint[], array[1000, 1000]",
    readAll: "0, 0, 1000",
    followAll: "0, 0, 1000",
    followAllWithoutMetadata: "0, 0, 1000",
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
