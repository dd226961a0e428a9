/**
 * One writer process of the event store torture test (test/eventStoreTorture.int.test.ts).
 * Usage: tsx test/tortureWriter.ts <schema> <streams> <seconds> <writers> <name>
 *
 * Runs `writers` loops for `seconds` against shared streams `tort-0` … `tort-<streams - 1>`,
 * each loop a mix of: appends through the port with every kind of expectation (any,
 * stream_exists, an exact revision read just before, no_stream on a stream of its own) and
 * retries of an append already made (which must answer as the first time); appends made inside
 * a transaction this process holds open for a while and then commits or rolls back; and
 * transactions that only hold streams' row locks and roll back. Prints "running" once, then
 * "ack <id> …" for every event whose append is known to have committed, and "done <json>" with
 * its counts. A retry that answers differently prints "error …" and exits 1.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { EventToAppend, ExpectedRevision } from "../gateways/eventStore/EventStore.ts";
import { WrongExpectedRevisionError } from "../gateways/eventStore/EventStoreError.ts";
import {
  PostgresEventStore,
  appendBatchParameters,
} from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { notificationChannel } from "../gateways/eventStore/postgres/eventStoreMigrations.ts";
import { validateAppend } from "../gateways/eventStore/validateAppend.ts";
import { TEST_DATABASE_URL } from "./postgresTestDatabase.ts";

const [schemaArgument, streamsText, secondsText, writersText, nameArgument] = process.argv.slice(2);
if (schemaArgument === undefined || nameArgument === undefined) {
  throw new Error("usage: tortureWriter.ts <schema> <streams> <seconds> <writers> <name>");
}
const schema: string = schemaArgument;
const name: string = nameArgument;
const streams = Number(streamsText);
const seconds = Number(secondsText);
const writers = Number(writersText);
const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: writers + 4 });
pool.on("error", () => undefined);
const store = new PostgresEventStore(pool, { schema });
const counts = { appends: 0, refused: 0, retries: 0, heldCommitted: 0, heldRolledBack: 0, lockHolds: 0 };
const deadline = Date.now() + seconds * 1000;

const random = (max: number) => Math.floor(Math.random() * max);
const sharedStream = () => `tort-${random(streams)}`;
const events = (count: number): EventToAppend[] =>
  Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    type: "Tortured",
    data: { writer: name, index, at: Date.now() },
    metadata: { correlationId: randomUUID(), actor: `torture-${name}` },
  }));

function acknowledge(appended: readonly EventToAppend[]): void {
  process.stdout.write(`ack ${appended.map((event) => event.id).join(" ")}\n`);
}

async function lastRevision(stream: string): Promise<ExpectedRevision> {
  for await (const event of store.readStream(stream, { direction: "backwards", maxCount: 1 }))
    return event.revision;
  return "no_stream";
}

/** Appends through the port, with every kind of expectation, and retries some of them. */
async function portAppend(): Promise<void> {
  const choice = random(10);
  const stream = choice === 0 ? `tort-${name}-${randomUUID()}` : sharedStream();
  const expected: ExpectedRevision =
    choice === 0
      ? "no_stream"
      : choice < 4
        ? "any"
        : choice < 6
          ? "stream_exists"
          : await lastRevision(stream);
  const appended = events(1 + random(3));
  try {
    const result = await store.append(stream, expected, appended);
    counts.appends += 1;
    acknowledge(appended);
    if (random(8) === 0) {
      // A retry after others may have appended: the first answer again, nothing written twice.
      counts.retries += 1;
      const again = await store.append(stream, expected === "no_stream" ? "no_stream" : "any", appended);
      if (again.position !== result.position || again.nextRevision !== result.nextRevision) {
        console.log(`error retry answered ${JSON.stringify(again)}, the append ${JSON.stringify(result)}`);
        process.exit(1);
      }
    }
  } catch (error) {
    if (!(error instanceof WrongExpectedRevisionError)) throw error;
    counts.refused += 1;
  }
}

/** A batch of appends inside a transaction held open for a while, then committed or rolled back. */
async function heldAppend(): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const appends = Array.from({ length: 1 + random(3) }, () =>
      validateAppend(sharedStream(), "any", events(1 + random(2))),
    ).sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
    await client.query(
      `select * from "${schema}".append_batch($1::text[], $2::bigint[], $3::jsonb)`,
      appendBatchParameters(appends),
    );
    await sleep(random(40));
    if (random(2) === 0) {
      await client.query("rollback");
      counts.heldRolledBack += 1;
    } else {
      await client.query("commit");
      counts.heldCommitted += 1;
      process.stdout.write(
        `ack ${appends.flatMap((append) => append.events.map((event) => event.id)).join(" ")}\n`,
      );
      await client.query("select pg_notify($1, '')", [notificationChannel(schema)]);
    }
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Holds some shared streams' row locks (as a slow writer would), then rolls back. */
async function lockHold(): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(
      `select 1 from "${schema}".streams where stream_id = any($1) order by stream_id for update`,
      [[sharedStream(), sharedStream()]],
    );
    await sleep(5 + random(30));
    counts.lockHolds += 1;
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}

console.log("running");
await Promise.all(
  Array.from({ length: writers }, async () => {
    while (Date.now() < deadline) {
      const kind = random(10);
      if (kind < 7) await portAppend();
      else if (kind < 9) await heldAppend();
      else await lockHold();
    }
  }),
);
await store.close();
await pool.end();
console.log(`done ${JSON.stringify(counts)}`);
