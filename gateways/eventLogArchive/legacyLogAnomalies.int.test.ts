import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { Kysely, Migrator, PostgresDialect } from "kysely";
import { openTestDatabase, type TestDatabase } from "../../test/postgresTestDatabase.ts";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { DuplicateEventIdError } from "../eventStore/EventStoreError.ts";
import { eventStoreMigrations } from "../eventStore/postgres/eventStoreMigrations.ts";
import { PostgresEventStore } from "../eventStore/postgres/PostgresEventStore.ts";
import { ArchiveError } from "./ArchiveManifest.ts";
import { checkArchive } from "./checkArchive.ts";
import { exportEventLog } from "./exportEventLog.ts";
import { ImportRefusedError, importEventLog } from "./importEventLog.ts";

/**
 * A store as a version before migration 0004 could leave it: migrated up to 0003, with rows
 * written straight into its tables (what the old append_batch could do under contention).
 */
async function legacyStore(
  database: TestDatabase,
  schema: string,
  rows: readonly { stream: string; revision: number; order: number; id?: string }[],
): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: database.pool }) });
  await database.pool.query(`create schema "${schema}"`);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(eventStoreMigrations(schema)) },
    migrationTableSchema: schema,
    migrationTableName: "event_store_migrations",
    migrationLockTableName: "event_store_migrations_lock",
  });
  const { error } = await migrator.migrateTo("0003_import_guard");
  if (error !== undefined) throw new Error("migrating to 0003 failed", { cause: error });
  for (const row of rows) {
    await database.pool.query(
      `insert into "${schema}".events (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
       values ($1, $2, $3, $4, 'Legacy', $5, '{"correlationId":"c","actor":"test"}')`,
      [
        row.order,
        row.stream,
        row.revision,
        row.id ?? randomUUID(),
        JSON.stringify({ revision: row.revision }),
      ],
    );
    await database.pool.query(
      `insert into "${schema}".streams (stream_id, revision) values ($1, $2)
       on conflict (stream_id) do update set revision = greatest(streams.revision, excluded.revision)`,
      [row.stream, row.revision],
    );
  }
}

async function everyEvent(store: PostgresEventStore): Promise<RecordedEvent[]> {
  const events = [];
  for await (const event of store.readAll()) events.push(event);
  return events;
}

test("a log with a stream out of revision order is reported at migration, verified and imported with --allow-inversions in its own order", async (t) => {
  const database = await openTestDatabase();
  const source = `${database.schema}_old`;
  const target = `${database.schema}_new`;
  const work = await mkdtemp(join(tmpdir(), "tidemark-legacy-"));
  try {
    // Stream "account-b": revisions 0, 2, 1 in the log's order (transaction orders 100, 150, 200).
    await legacyStore(database, source, [
      { stream: "account-a", revision: 0, order: 90 },
      { stream: "account-b", revision: 0, order: 100 },
      { stream: "account-b", revision: 2, order: 150 },
      { stream: "account-b", revision: 1, order: 200 },
      { stream: "account-a", revision: 1, order: 210 },
    ]);
    await PostgresEventStore.migrate(database.pool, source);
    const anomalies = await PostgresEventStore.logAnomalies(database.pool, source);
    t.like(anomalies, { revisionOrder: 1, duplicateEventIds: 0 });
    t.deepEqual(anomalies.examples, ["revision_order: account-b revision 2"]);

    const store = new PostgresEventStore(database.pool, { schema: source });
    // New appends to the stream come after every event it has, whatever their transaction id.
    const appended = await store.append("account-b", 2, [
      { id: randomUUID(), type: "New", data: {}, metadata: { correlationId: "c", actor: "test" } },
    ]);
    const before = await everyEvent(store);
    t.deepEqual(
      before.filter((e) => e.streamId === "account-b").map((e) => e.revision),
      [0, 2, 1, 3],
    );
    t.is(before.at(-1)?.position, appended.position);

    const archive = join(work, "archive");
    await exportEventLog({ store, directory: archive, eventsPerFile: 2 });
    await store.close();
    const refused = await t.throwsAsync(checkArchive(archive), { instanceOf: ArchiveError });
    t.regex(refused.message, /account-b revision 2, expected 1 .*--allow-inversions/);
    await t.throwsAsync(importEventLog({ pool: database.pool, schema: target, directory: archive }), {
      instanceOf: ArchiveError,
    });

    const checked = await checkArchive(archive, { allowRevisionInversions: true });
    t.is(checked.inversions, 1);
    t.deepEqual(checked.inversionExamples, ["account-b revision 2 before revision 1"]);
    const imported = await importEventLog({
      pool: database.pool,
      schema: target,
      directory: archive,
      allowRevisionInversions: true,
    });
    t.like(imported, { events: 6, inversions: 1 });
    const restored = new PostgresEventStore(database.pool, { schema: target });
    const after = await everyEvent(restored);
    t.deepEqual(
      after.map((e) => [e.id, e.streamId, e.revision, e.position]),
      before.map((e) => [e.id, e.streamId, e.revision, e.position]),
      "every event at its position, in the order the log had",
    );
    t.like(await PostgresEventStore.logAnomalies(database.pool, target), { revisionOrder: 1 });
    const next = await restored.append("account-b", 3, [
      { id: randomUUID(), type: "AfterRestore", data: {}, metadata: { correlationId: "c", actor: "test" } },
    ]);
    t.true(next.position > appended.position);
    await restored.close();
  } finally {
    await database.pool.query(`drop schema if exists "${source}" cascade`);
    await database.pool.query(`drop schema if exists "${target}" cascade`);
    await database.dispose();
    await rm(work, { recursive: true, force: true });
  }
});

test("a log with an event id twice is reported at migration, the id refused from then on, and imported with --allow-duplicate-ids", async (t) => {
  const database = await openTestDatabase();
  const source = `${database.schema}_dup`;
  const work = await mkdtemp(join(tmpdir(), "tidemark-legacy-"));
  const reused = randomUUID();
  try {
    await legacyStore(database, source, [
      { stream: "account-a", revision: 0, order: 90, id: reused },
      { stream: "account-b", revision: 0, order: 100, id: reused },
    ]);
    await PostgresEventStore.migrate(database.pool, source);
    t.like(await PostgresEventStore.logAnomalies(database.pool, source), {
      revisionOrder: 0,
      duplicateEventIds: 2,
    });
    const store = new PostgresEventStore(database.pool, { schema: source });
    const metadata = { correlationId: "c", actor: "test" };
    await t.throwsAsync(
      store.append("account-c", "any", [{ id: reused, type: "Again", data: {}, metadata }]),
      {
        instanceOf: DuplicateEventIdError,
      },
    );
    const fresh = randomUUID();
    await store.append("account-c", "any", [{ id: fresh, type: "Fresh", data: {}, metadata }]);
    await t.throwsAsync(
      store.append("account-d", "any", [{ id: fresh, type: "Fresh", data: {}, metadata }]),
      {
        instanceOf: DuplicateEventIdError,
      },
    );
    const archive = join(work, "archive");
    await exportEventLog({ store, directory: archive, eventsPerFile: 10 });
    await store.close();
    const refused = await t.throwsAsync(
      importEventLog({ pool: database.pool, schema: `${source}_new`, directory: archive }),
      { instanceOf: ImportRefusedError },
    );
    t.regex(refused.message, /event id twice.*--allow-duplicate-ids/);
    const imported = await importEventLog({
      pool: database.pool,
      schema: `${source}_new`,
      directory: archive,
      allowDuplicateEventIds: true,
    });
    t.is(imported.events, 3);
    t.like(await PostgresEventStore.logAnomalies(database.pool, `${source}_new`), { duplicateEventIds: 2 });
    const restored = new PostgresEventStore(database.pool, { schema: `${source}_new` });
    await t.throwsAsync(
      restored.append("account-e", "any", [{ id: reused, type: "Again", data: {}, metadata }]),
      {
        instanceOf: DuplicateEventIdError,
      },
    );
    await t.throwsAsync(
      restored.append("account-e", "any", [{ id: fresh, type: "Fresh", data: {}, metadata }]),
      {
        instanceOf: DuplicateEventIdError,
      },
    );
    const after = randomUUID();
    await restored.append("account-e", "any", [{ id: after, type: "After", data: {}, metadata }]);
    await t.throwsAsync(
      restored.append("account-f", "any", [{ id: after, type: "After", data: {}, metadata }]),
      {
        instanceOf: DuplicateEventIdError,
      },
    );
    await restored.close();
  } finally {
    await database.pool.query(`drop schema if exists "${source}" cascade`);
    await database.pool.query(`drop schema if exists "${source}_new" cascade`);
    await database.dispose();
    await rm(work, { recursive: true, force: true });
  }
});
