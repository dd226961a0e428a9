import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import type pg from "pg";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { LogImportUnderWayError } from "../eventStore/EventStoreError.ts";
import { PostgresEventStore } from "../eventStore/postgres/PostgresEventStore.ts";
import { comparePositions } from "../eventStore/Position.ts";
import { ArchiveError, readManifest } from "./ArchiveManifest.ts";
import { exportEventLog } from "./exportEventLog.ts";
import { ImportRefusedError, importEventLog } from "./importEventLog.ts";

type Context = TestEventStore & { archive: string; events: number; work: string };
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.events = await generateEventLog(
    t.context.store,
    { accounts: 200, events: 3_000, seed: 3 },
    await loadRules(),
  );
  t.context.work = await mkdtemp(join(tmpdir(), "tidemark-archive-"));
  t.context.archive = join(t.context.work, "archive");
  await exportEventLog({ store: t.context.store, directory: t.context.archive, eventsPerFile: 1000 });
});

test.after.always(async (t) => {
  await t.context.dispose();
  await rm(t.context.work, { recursive: true, force: true });
});

/** A second, empty store in the same database (a schema of its own). */
async function emptyStore(t: { context: Context }, name: string) {
  const schema = `${t.context.database.schema}_${name}`;
  const { pool } = t.context.database;
  await PostgresEventStore.migrate(pool, schema);
  const store = new PostgresEventStore(pool, { schema });
  return {
    schema,
    store,
    async dispose() {
      await store.close();
      await pool.query(`drop schema if exists "${schema}" cascade`);
    },
  };
}

/** An import of the test's archive into `schema`, stopped (by its progress callback) after one file. */
async function importStoppedAfterItsFirstFile(t: ExecutionContext<Context>, pool: pg.Pool, schema: string) {
  await t.throwsAsync(
    importEventLog({
      pool,
      schema,
      directory: t.context.archive,
      onProgress: (progress) => {
        if (progress.phase === "importing") throw new Error("stopped after the first file");
      },
    }),
    { message: "stopped after the first file" },
  );
}

async function everyEvent(store: { readAll(): AsyncIterable<RecordedEvent> }): Promise<RecordedEvent[]> {
  const events = [];
  for await (const event of store.readAll()) events.push(event);
  return events;
}

test("export writes files with sums sha256sum agrees with; import gives back every event as it was, positions included", async (t) => {
  const { archive, store, database } = t.context;
  const manifest = await readManifest(archive);
  t.true(manifest.complete);
  t.is(manifest.events, t.context.events);
  t.is(manifest.files.length, Math.ceil(t.context.events / 1000));
  t.notThrows(() => execFileSync("sha256sum", ["--check", "--quiet", "SHA256SUMS"], { cwd: archive }));

  const target = await emptyStore(t, "copy");
  try {
    const result = await importEventLog({ pool: database.pool, schema: target.schema, directory: archive });
    t.is(result.events, t.context.events);
    t.deepEqual(await everyEvent(target.store), await everyEvent(store));

    // Appends after the import land after it, on a stream the archive already had.
    const source = (await everyEvent(store)).at(-1);
    if (source === undefined) return t.fail("empty log");
    const appended = await target.store.append(source.streamId, source.revision, [
      {
        id: "00000000-0000-4000-8000-000000000001",
        type: "Probe",
        data: {},
        metadata: { correlationId: "probe", actor: "test" },
      },
    ]);
    t.true(comparePositions(appended.position, source.position) > 0);
    t.is(appended.nextRevision, source.revision + 1);
  } finally {
    await target.dispose();
  }
});

test("an export stopped after its first file is resumed by running it again, and comes out the same", async (t) => {
  const directory = join(t.context.work, "resumed");
  const stop = new AbortController();
  const first = await exportEventLog({
    store: t.context.store,
    directory,
    eventsPerFile: 1000,
    signal: stop.signal,
    onProgress: (progress) => {
      if (progress.files === 1) stop.abort();
    },
  });
  t.false(first.complete);
  t.is(first.files.length, 1);
  const { pool } = t.context.database;
  const neverMade = `${t.context.database.schema}_never_made`;
  await t.throwsAsync(importEventLog({ pool, schema: neverMade, directory }), {
    instanceOf: ArchiveError,
    message: /did not finish/,
  });
  const schemas = await pool.query("select 1 from pg_namespace where nspname = $1", [neverMade]);
  t.is(schemas.rowCount, 0, "a refused archive leaves the database as it was");
  const resumed = await exportEventLog({ store: t.context.store, directory, eventsPerFile: 1000 });
  const whole = await readManifest(t.context.archive);
  t.true(resumed.complete);
  t.deepEqual(
    resumed.files.map((file) => [file.name, file.events, file.first, file.last]),
    whole.files.map((file) => [file.name, file.events, file.first, file.last]),
  );
  await t.throwsAsync(exportEventLog({ store: t.context.store, directory }), {
    message: /already holds a complete archive/,
  });
});

test("a damaged line is refused naming its file and line, a truncated file naming the file; nothing is imported", async (t) => {
  const { pool } = t.context.database;
  const damaged = join(t.context.work, "damaged");
  await cp(t.context.archive, damaged, { recursive: true });
  const file = join(damaged, "events-000002.ndjson.gz");
  const lines = gunzipSync(await readFile(file))
    .toString("utf8")
    .split("\n");
  lines[16] = (lines[16] ?? "").replace(
    /"revision":(\d+)/,
    (_, revision: string) => `"revision":${Number(revision) + 1}`,
  );
  await writeFile(file, gzipSync(lines.join("\n")));
  const target = await emptyStore(t, "damaged");
  try {
    await t.throwsAsync(importEventLog({ pool, schema: target.schema, directory: damaged }), {
      instanceOf: ArchiveError,
      message: /events-000002\.ndjson\.gz line 17: checksum mismatch/,
    });
    t.is((await everyEvent(target.store)).length, 0);

    const truncated = join(t.context.work, "truncated");
    await cp(t.context.archive, truncated, { recursive: true });
    const third = join(truncated, "events-000003.ndjson.gz");
    await truncate(third, Math.floor((await readFile(third)).length / 2));
    const error = await t.throwsAsync(importEventLog({ pool, schema: target.schema, directory: truncated }), {
      instanceOf: ArchiveError,
    });
    t.regex(error.message, /events-000003\.ndjson\.gz.*(truncated|cut short)/);
    t.log(error.message);
    t.is((await everyEvent(target.store)).length, 0, "nothing half-imported");
  } finally {
    await target.dispose();
  }
});

test("an import goes into an empty store only; one stopped half-way resumes from the next file", async (t) => {
  const { pool } = t.context.database;
  const target = await emptyStore(t, "resume");
  try {
    await importStoppedAfterItsFirstFile(t, pool, target.schema);
    t.is((await everyEvent(target.store)).length, 1000, "the first file, whole");
    const resumed = await importEventLog({ pool, schema: target.schema, directory: t.context.archive });
    t.is(resumed.skippedFiles, 1);
    t.deepEqual(await everyEvent(target.store), await everyEvent(t.context.store));

    await t.throwsAsync(
      importEventLog({ pool, schema: t.context.database.schema, directory: t.context.archive }),
      {
        instanceOf: ImportRefusedError,
        message: /already holds events/,
      },
    );
  } finally {
    await target.dispose();
  }
});

test("after an import stopped half-way appends are refused, naming the import, until it is run again to the end; then they land after the archive", async (t) => {
  const { pool } = t.context.database;
  const target = await emptyStore(t, "guarded");
  const append = () =>
    target.store.append(`guard-${randomUUID()}`, "no_stream", [
      { id: randomUUID(), type: "GuardProbe", data: {}, metadata: { correlationId: "c", actor: "test" } },
    ]);
  try {
    await importStoppedAfterItsFirstFile(t, pool, target.schema);
    const { archiveId } = await readManifest(t.context.archive);
    await t.throwsAsync(append(), {
      instanceOf: LogImportUnderWayError,
      message: new RegExp(`being imported \\(archive ${archiveId}\\)`),
    });
    t.is((await everyEvent(target.store)).length, 1000, "the refused append wrote nothing");

    await importEventLog({ pool, schema: target.schema, directory: t.context.archive });
    const after = await append();
    const imported = await everyEvent(t.context.store);
    const last = imported.at(-1)?.position;
    if (last === undefined) return t.fail("no events in the source");
    t.true(comparePositions(after.position, last) > 0, "the append sorts after the archive");
    t.is((await everyEvent(target.store)).length, imported.length + 1);
  } finally {
    await target.dispose();
  }
});
