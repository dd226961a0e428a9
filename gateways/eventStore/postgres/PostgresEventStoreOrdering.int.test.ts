import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { openTestDatabase, type TestDatabase } from "../../../test/postgresTestDatabase.ts";
import type { EventToAppend, RecordedEvent } from "../EventStore.ts";
import { event, streamId } from "../eventStoreContract.ts";
import { comparePositions, positionOf } from "../Position.ts";
import { validateAppend } from "../validateAppend.ts";
import { notificationChannel } from "./eventStoreMigrations.ts";
import { PostgresEventStore, appendBatchParameters } from "./PostgresEventStore.ts";

const test = anyTest as TestFn<{ database: TestDatabase; store: PostgresEventStore }>;

test.before(async (t) => {
  const database = await openTestDatabase(40);
  await PostgresEventStore.migrate(database.pool, database.schema);
  t.context.database = database;
  // A long fallback poll: the subscriber must be woken by notifications, not by the timer.
  t.context.store = new PostgresEventStore(database.pool, {
    schema: database.schema,
    pollIntervalMs: 60_000,
  });
});

test.after.always(async (t) => {
  await t.context.store.close();
  await t.context.database.dispose();
});

/** Appends inside a transaction this test holds open for `holdMs`, then commits or rolls back. */
async function appendHoldingTransaction(
  database: TestDatabase,
  stream: string,
  events: EventToAppend[],
  holdMs: number,
  outcome: "commit" | "rollback",
): Promise<void> {
  const client = await database.pool.connect();
  try {
    await client.query("begin");
    const append = validateAppend(stream, "any", events);
    await client.query(
      `select * from "${database.schema}".append_batch($1::text[], $2::bigint[], $3::jsonb)`,
      appendBatchParameters([append]),
    );
    await sleep(holdMs);
    await client.query(outcome);
    // Writers outside the adapter announce their commits as the adapter does (or wait for the poll).
    if (outcome === "commit")
      await client.query("select pg_notify($1, '')", [notificationChannel(database.schema)]);
  } finally {
    client.release();
  }
}

test.serial(
  "a live subscriber sees every committed event exactly once, in stream order, and no rolled-back one",
  async (t) => {
    const { database, store } = t.context;
    const received: RecordedEvent[] = [];
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    const subscription = store.subscribe({ batchSize: 50 });
    let caughtUp!: () => void;
    const caughtUpOnce = new Promise<void>((resolve) => (caughtUp = resolve));
    const consuming = (async () => {
      for await (const message of subscription) {
        if (message.kind === "caughtUp") caughtUp();
        else received.push(...message.events);
      }
    })();
    await caughtUpOnce;

    const writers = 24;
    const appendsPerWriter = 25;
    const random = (max: number) => Math.floor(Math.random() * max);
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const stream = streamId(`writer${writer}`);
        for (let index = 0; index < appendsPerWriter; index += 1) {
          const events = [
            event("Written", { writer, index }),
            event("Written", { writer, index, second: true }),
          ];
          const kind = writer % 3;
          if (kind === 0) {
            // Plain appends through the port (micro-batched with each other).
            await store.append(stream, "any", events);
            events.forEach((e) => committed.add(e.id));
          } else if (kind === 1) {
            // Holds its transaction open so that later positions commit before it.
            await appendHoldingTransaction(database, stream, events, 5 + random(40), "commit");
            events.forEach((e) => committed.add(e.id));
          } else {
            const rollBack = random(2) === 0;
            await appendHoldingTransaction(
              database,
              stream,
              events,
              random(30),
              rollBack ? "rollback" : "commit",
            );
            events.forEach((e) => (rollBack ? rolledBack : committed).add(e.id));
          }
        }
      }),
    );
    t.true(rolledBack.size > 0, "some appends rolled back");

    const deadline = Date.now() + 20_000;
    while (received.length < committed.size && Date.now() < deadline) await sleep(20);
    await sleep(200); // anything extra (a duplicate, a rolled-back event) would arrive by now
    await subscription.close();
    await consuming;

    const ids = received.map((e) => e.id);
    t.is(new Set(ids).size, ids.length, "no event delivered twice");
    t.is(ids.length, committed.size, "every committed event delivered");
    t.true(
      ids.every((id) => committed.has(id)),
      "nothing rolled back or foreign delivered",
    );
    t.true(
      received.every(
        (e, index) => index === 0 || comparePositions(received[index - 1]!.position, e.position) < 0,
      ),
      "positions strictly increase",
    );
    const revisionsByStream = new Map<string, number[]>();
    for (const e of received)
      revisionsByStream.set(e.streamId, [...(revisionsByStream.get(e.streamId) ?? []), e.revision]);
    for (const [stream, revisions] of revisionsByStream) {
      t.deepEqual(
        revisions,
        revisions.toSorted((a, b) => a - b),
        `${stream} in revision order`,
      );
    }
  },
);

test.serial("a rolled-back open transaction does not stall a subscriber", async (t) => {
  const { database, store } = t.context;
  const stream = streamId("stall");
  const later = event("Later");
  const holding = appendHoldingTransaction(database, streamId("rolled"), [event("Doomed")], 300, "rollback");
  await sleep(50);
  const appended = await store.append(stream, "no_stream", [later]);
  const subscription = store.subscribe();
  const started = Date.now();
  let seenAt = -1;
  for await (const message of subscription) {
    if (message.kind === "events" && message.events.some((e) => e.id === later.id)) {
      seenAt = Date.now() - started;
      break;
    }
  }
  await subscription.close();
  await holding;
  t.true(seenAt >= 0);
  t.true(seenAt < 2_000, `seen ${seenAt} ms after subscribing (the blocker lives ~250 ms)`);
  t.truthy(appended.position);
});

test.serial(
  "caughtUp comes after every event committed before subscribing, even one behind an open transaction",
  async (t) => {
    const { database, store } = t.context;
    const early = event("Early");
    const late = event("Late");
    const holding = appendHoldingTransaction(database, streamId("early"), [early], 300, "commit");
    await sleep(50);
    await store.append(streamId("late"), "no_stream", [late]);
    const subscription = store.subscribe();
    const seenBeforeCaughtUp = new Set<string>();
    for await (const message of subscription) {
      if (message.kind === "caughtUp") break;
      message.events.forEach((e) => seenBeforeCaughtUp.add(e.id));
    }
    await subscription.close();
    await holding;
    t.true(seenBeforeCaughtUp.has(late.id), "the committed event came before caughtUp");
    t.true(seenBeforeCaughtUp.has(early.id), "and so did the one ordered before it");
  },
);

test.serial(
  "a read bounded by `to` returns at once, though events after it are held back by the reader's own transaction",
  async (t) => {
    const { database, store } = t.context;
    const stream = streamId("bounded");
    const before = await store.append(stream, "any", [event("Before")]);
    // A transaction holding an xid (as a blue/green swap does once it has locked rows) holds back
    // every event appended after it, including those its own reads ask for.
    const holder = await database.pool.connect();
    try {
      await holder.query("begin");
      await holder.query("select pg_current_xact_id()");
      await store.append(stream, "any", [event("HeldBack")]);
      const startedAt = Date.now();
      const read: RecordedEvent[] = [];
      for await (const e of store.readAll(undefined, { to: before.position }))
        if (e.streamId === stream) read.push(e);
      t.deepEqual(
        read.map((e) => e.type),
        ["Before"],
      );
      t.true(Date.now() - startedAt < 2000, `returned in ${Date.now() - startedAt} ms`);
    } finally {
      await holder.query("rollback");
      holder.release();
    }
  },
);

test.serial(
  "a batch that waits for one stream's lock never writes another stream's revision before an earlier one",
  async (t) => {
    const { database, store } = t.context;
    const a = streamId("locked");
    const b = streamId("overtaken");
    await store.append(a, "no_stream", [event("A0")]);
    const first = await store.append(b, "no_stream", [event("B0")]);

    // C holds stream a's row lock.
    const holder = await database.pool.connect();
    const batchClient = await database.pool.connect();
    try {
      await holder.query("begin");
      await holder.query(`select 1 from "${database.schema}".streams where stream_id = $1 for update`, [a]);
      // A: one batch [a (any), b (any)]: its transaction id is taken, then it waits for a.
      const batch = batchClient.query<{
        append_index: number;
        transaction_order: string;
        global_position: string;
      }>(
        `select * from "${database.schema}".append_batch($1::text[], $2::bigint[], $3::jsonb)`,
        appendBatchParameters([
          validateAppend(a, "any", [event("A1")]),
          validateAppend(b, "any", [event("B2")]),
        ]),
      );
      await waitUntilBlocked(database);
      // B appends b's revision 1 and commits while A waits.
      const second = await store.append(b, first.nextRevision, [event("B1")]);
      await holder.query("commit");
      const { rows } = await batch;
      const third = rows.find((row) => row.append_index === 1);
      t.truthy(third);
      const thirdPosition = positionOf(BigInt(third!.transaction_order), BigInt(third!.global_position));
      t.true(
        comparePositions(thirdPosition, second.position) > 0,
        `the position handed to A for b's revision 2 (${thirdPosition}) comes after revision 1's (${second.position})`,
      );
      const revisions: number[] = [];
      for await (const e of store.readAll()) if (e.streamId === b) revisions.push(e.revision);
      t.deepEqual(revisions, [0, 1, 2], "readAll delivers b in revision order");
      const subscribed: number[] = [];
      const subscription = store.subscribe();
      for await (const message of subscription) {
        if (message.kind === "caughtUp") break;
        for (const e of message.events) if (e.streamId === b) subscribed.push(e.revision);
      }
      await subscription.close();
      t.deepEqual(subscribed, [0, 1, 2], "a subscription delivers b in revision order");
    } finally {
      await holder.query("rollback").catch(() => undefined);
      holder.release();
      batchClient.release();
    }
  },
);

/** Waits until an `append_batch` call is waiting for a lock. */
async function waitUntilBlocked(database: TestDatabase): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const waiting = await database.pool.query<{ waiting: boolean }>(
      `select exists (select 1 from pg_stat_activity
         where wait_event_type = 'Lock' and query like '%append_batch%') as waiting`,
    );
    if (waiting.rows[0]?.waiting === true) return;
    await sleep(10);
  }
  throw new Error("the batch never waited for the lock");
}
