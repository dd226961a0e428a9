import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect, sql, type Transaction } from "kysely";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import type { RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import { event } from "../../gateways/eventStore/eventStoreContract.ts";
import type { Projection } from "./Projection.ts";
import { ProjectionFailedError } from "./ProjectionFailedError.ts";
import { runProjection, type ProjectionProgress } from "./runProjection.ts";

type Context = TestEventStore & { db: Kysely<unknown> };

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: t.context.database.pool }) });
});

test.afterEach.always(async (t) => {
  const { schema } = t.context.database;
  await t.context.dispose([`${schema}_read`, `${schema}_runtime`]);
});

interface CounterTables {
  counts: { stream_id: string; n: number };
}

/** Counts Counted events per stream; fails on an event whose data says so. */
const counter: Projection<CounterTables> = {
  name: "counter",
  version: 1,
  eventTypes: new Set(["Counted"]),
  async setUp(db, schema) {
    await db.schema
      .withSchema(schema)
      .createTable("counts")
      .ifNotExists()
      .addColumn("stream_id", "text", (col) => col.primaryKey())
      .addColumn("n", "integer", (col) => col.notNull())
      .execute();
  },
  async apply(trx: Transaction<CounterTables>, recorded: RecordedEvent, schema: string) {
    if (recorded.data.poison === true) throw new Error("poisoned event");
    await trx
      .withSchema(schema)
      .insertInto("counts")
      .values({ stream_id: recorded.streamId, n: 1 })
      .onConflict((conflict) => conflict.column("stream_id").doUpdateSet({ n: sql`counts.n + 1` }))
      .execute();
  },
};

function runUntil(
  t: { context: Context },
  done: (progress: ProjectionProgress) => boolean,
  projection: Projection<CounterTables> = counter,
): { run: Promise<void>; stop: () => void; reached: Promise<ProjectionProgress> } {
  const controller = new AbortController();
  let resolveReached!: (progress: ProjectionProgress) => void;
  const reached = new Promise<ProjectionProgress>((resolve) => (resolveReached = resolve));
  const run = runProjection({
    pool: t.context.database.pool,
    db: t.context.db as unknown as Kysely<CounterTables>,
    store: t.context.store,
    projection,
    schema: `${t.context.database.schema}_read`,
    runtimeSchema: `${t.context.database.schema}_runtime`,
    signal: controller.signal,
    batchSize: 100,
    onProgress: (progress) => {
      if (done(progress)) resolveReached(progress);
    },
  });
  return { run, stop: () => controller.abort(), reached };
}

async function counts(t: { context: Context }): Promise<Record<string, number>> {
  const { rows } = await t.context.database.pool.query<{ stream_id: string; n: number }>(
    `select stream_id, n from "${t.context.database.schema}_read".counts order by stream_id`,
  );
  return Object.fromEntries(rows.map((row) => [row.stream_id, row.n]));
}

test("a projection catches up from its checkpoint, follows live events, and resumes where it stopped", async (t) => {
  const { store } = t.context;
  for (let index = 0; index < 5; index += 1) {
    await store.append(
      "s-a",
      "any",
      Array.from({ length: 100 }, () => event("Counted")),
    );
  }
  await store.append("s-b", "any", [event("Counted"), event("Ignored")]);
  const first = runUntil(t, (progress) => progress.caughtUp && progress.applied >= 501);
  t.is((await first.reached).applied, 501);
  await store.append("s-b", "any", [event("Counted")]);
  await sleep(300);
  first.stop();
  await first.run;
  t.deepEqual(await counts(t), { "s-a": 500, "s-b": 2 });
  // Restarted, it applies only what came after its checkpoint: nothing is counted twice.
  await store.append("s-c", "any", [event("Counted")]);
  const second = runUntil(t, (progress) => progress.caughtUp);
  await second.reached;
  await sleep(100);
  second.stop();
  await second.run;
  t.deepEqual(await counts(t), { "s-a": 500, "s-b": 2, "s-c": 1 });
});

test("an event that cannot be applied stops the projection with an error naming it; the checkpoint stays before it", async (t) => {
  const { store } = t.context;
  await store.append("s-a", "any", [event("Counted"), event("Counted")]);
  const poison = event("Counted", { poison: true });
  await store.append("s-p", "any", [poison]);
  const { run } = runUntil(t, () => false);
  const error = await t.throwsAsync(run, { instanceOf: ProjectionFailedError });
  t.is(error.eventId, poison.id);
  t.is(error.projection, "counter");
  t.regex(
    error.message,
    /^projection counter stopped at event .* \(Counted, position [0-9a-f-]+\): poisoned event$/,
  );
  // The batch with the poison rolled back whole: nothing of it is counted.
  t.deepEqual(await counts(t), {});
});

test("two runners of one projection: one holds the lease, the other stands by; nothing is applied twice", async (t) => {
  const { store } = t.context;
  await store.append(
    "s-a",
    "any",
    Array.from({ length: 300 }, () => event("Counted")),
  );
  const one = runUntil(t, (progress) => progress.caughtUp);
  const two = runUntil(t, (progress) => progress.caughtUp);
  await Promise.race([one.reached, two.reached]);
  await store.append(
    "s-a",
    "any",
    Array.from({ length: 50 }, () => event("Counted")),
  );
  await sleep(500);
  one.stop();
  two.stop();
  await Promise.all([one.run, two.run]);
  t.deepEqual(await counts(t), { "s-a": 350 });
});
