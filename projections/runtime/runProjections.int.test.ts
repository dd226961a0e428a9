import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import type { RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import { event } from "../../gateways/eventStore/eventStoreContract.ts";
import type { Projection } from "./Projection.ts";
import { ProjectionFailedError } from "./ProjectionFailedError.ts";
import {
  createBuild,
  createRegistry,
  dropFailedBuilds,
  listBuilds,
  liveBuilds,
  projectionSchemas,
  recordBuildFailure,
  type ProjectionSchemas,
} from "./ProjectionBuilds.ts";
import { projectionDigest } from "./projectionDigest.ts";
import { rebuildProjections } from "./rebuildProjections.ts";
import { runProjections, type ProjectionProgress, type TargetOutcome } from "./runProjections.ts";
import { upsertRows } from "./writeRows.ts";

type Context = TestEventStore & { db: Kysely<unknown>; schemas: ProjectionSchemas };

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: t.context.database.pool }) });
  t.context.schemas = projectionSchemas(t.context.database.schema);
  await createRegistry(t.context.db, t.context.schemas);
});

test.afterEach.always(async (t) => {
  const { schemas, db } = t.context;
  const builds = await listBuilds(db, schemas).catch(() => []);
  await t.context.dispose([...builds.map((build) => build.buildSchema), schemas.read, schemas.runtime]);
});

interface CounterTables {
  counts: { stream_id: string; n: number };
}

/** Counts `Counted` events per stream; fails on an event whose data says so (in its fold or its write). */
function counter(version = 1, name = "counter"): Projection<CounterTables> {
  return {
    name,
    version,
    eventTypes: new Set(["Counted"]),
    tables: ["counts"],
    async setUp(db, schema) {
      await db.schema
        .withSchema(schema)
        .createTable("counts")
        .addColumn("stream_id", "text", (col) => col.primaryKey())
        .addColumn("n", "integer", (col) => col.notNull())
        .execute();
    },
    async foldBatch(reader: Kysely<CounterTables>, events: readonly RecordedEvent[], schema: string) {
      if (events.some((recorded) => recorded.data.poison === true)) throw new Error("poisoned event");
      const ids = [...new Set(events.map((recorded) => recorded.streamId))];
      const stored = await reader
        .withSchema(schema)
        .selectFrom("counts")
        .selectAll()
        .where("stream_id", "in", ids)
        .execute();
      const n = new Map(stored.map((row) => [row.stream_id, row.n]));
      for (const recorded of events) n.set(recorded.streamId, (n.get(recorded.streamId) ?? 0) + 1);
      // An event saying so makes its stream's row one PostgreSQL refuses (the write fails, not the fold).
      const unwritable = new Set(
        events.filter((recorded) => recorded.data.unwritable === true).map((e) => e.streamId),
      );
      const rows = [...n].map(([stream_id, count]) => ({
        stream_id,
        n: unwritable.has(stream_id) ? "not a number" : count,
      }));
      return upsertRows("counts", ["stream_id"], rows);
    },
  };
}

/** Runs live builds of `projections` until `done` says so (or forever, until stopped). */
function runLive(
  t: { context: Context },
  projections: Projection<CounterTables>[],
  done: (progress: ProjectionProgress) => boolean = () => false,
  db: Kysely<unknown> = t.context.db,
): { run: Promise<Map<string, TargetOutcome>>; stop: () => void; reached: Promise<ProjectionProgress> } {
  const controller = new AbortController();
  let resolveReached!: (progress: ProjectionProgress) => void;
  const reached = new Promise<ProjectionProgress>((resolve) => (resolveReached = resolve));
  const run = (async () => {
    const targets = [];
    for (const projection of projections) {
      const build = await createBuild(t.context.db, t.context.schemas, projection, "live");
      targets.push({ projection, buildSchema: build.buildSchema });
    }
    return runProjections({
      pool: t.context.database.pool,
      db,
      store: t.context.store,
      schemas: t.context.schemas,
      targets,
      expectedStatus: "live",
      signal: controller.signal,
      batchSize: 100,
      onProgress: (progress) => {
        if (done(progress)) resolveReached(progress);
      },
    });
  })();
  return { run, stop: () => controller.abort(), reached };
}

/** What the read schema's view shows: the live build. */
async function counts(t: { context: Context }, name = "counts"): Promise<Record<string, number>> {
  const { rows } = await t.context.database.pool.query<{ stream_id: string; n: number }>(
    `select stream_id, n from "${t.context.schemas.read}".${name} order by stream_id`,
  );
  return Object.fromEntries(rows.map((row) => [row.stream_id, row.n]));
}

/** A projection named "other" with no tables, whose fold is `foldBatch` (nothing, by default). */
function tableless(foldBatch: Projection<CounterTables>["foldBatch"] = () => Promise.resolve([])) {
  return { ...counter(1, "other"), tables: [] as const, setUp: () => Promise.resolve(), foldBatch };
}

/** The counter and a tableless projection run live until the latter has caught up; their outcomes. */
async function runCounterBesideAnother(t: {
  context: Context;
}): Promise<{ outcomes: TargetOutcome[]; failed: TargetOutcome | undefined }> {
  const run = runLive(
    t,
    [counter(), tableless()],
    (progress) => progress.projection === "other" && progress.caughtUp,
  );
  await run.reached;
  run.stop();
  const outcomes = [...(await run.run).values()];
  return { outcomes, failed: outcomes.find((outcome) => outcome.outcome === "failed") };
}

const many = (n: number, type = "Counted") => Array.from({ length: n }, () => event(type));

test("a projection catches up from its checkpoint, follows live events, and resumes where it stopped", async (t) => {
  const { store } = t.context;
  for (let index = 0; index < 5; index += 1) await store.append("s-a", "any", many(100));
  await store.append("s-b", "any", [event("Counted"), event("Ignored")]);
  const first = runLive(t, [counter()], (progress) => progress.caughtUp && progress.applied >= 501);
  t.is((await first.reached).applied, 501);
  await store.append("s-b", "any", [event("Counted")]);
  // Followed live: the new event arrives without a restart (waiting as long as a loaded machine needs).
  for (let waited = 0; waited < 10_000 && (await counts(t))["s-b"] !== 2; waited += 20) await sleep(20);
  first.stop();
  t.like((await first.run).values().next().value, { outcome: "stopped" });
  t.deepEqual(await counts(t), { "s-a": 500, "s-b": 2 });
  // Restarted, it applies only what came after its checkpoint: nothing is counted twice.
  await store.append("s-c", "any", [event("Counted")]);
  const second = runLive(t, [counter()], (progress) => progress.caughtUp);
  await second.reached;
  second.stop();
  await second.run;
  t.deepEqual(await counts(t), { "s-a": 500, "s-b": 2, "s-c": 1 });
});

test("builds following the log live advance together: one statement moves every checkpoint of a batch and writes its rows", async (t) => {
  const { store } = t.context;
  const checkpointStatements: string[] = [];
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: t.context.database.pool }),
    log: (logged) => {
      if (logged.level === "query" && /update \S+projection_builds/.test(logged.query.sql))
        checkpointStatements.push(logged.query.sql);
    },
  });
  const live = runLive(t, [counter(), tableless()], () => false, db);
  for (let index = 0; index < 20; index += 1) {
    await store.append(`s-${index % 3}`, "any", [event("Counted")]);
    await sleep(5);
  }
  for (let waited = 0; waited < 10_000 && (await counts(t))["s-1"] !== 7; waited += 20) await sleep(20);
  live.stop();
  await live.run;
  t.deepEqual(await counts(t), { "s-0": 7, "s-1": 7, "s-2": 6 });
  t.true(checkpointStatements.length > 0);
  t.deepEqual(
    checkpointStatements.filter((statement) => !statement.includes("unnest")),
    [],
    "no checkpoint moved alone",
  );
});

test("a build whose registry row a swap holds does not hold up the others: their checkpoints move on meanwhile", async (t) => {
  const { store, database, schemas } = t.context;
  // The other projection's fold waits, when asked to, until the row is held: the batch is read
  // before the swap's transaction begins (a reader of the log waits for transactions begun before).
  let folding: { reached: () => void; go: Promise<void> } | undefined;
  const other = tableless(async () => {
    const waiting = folding;
    if (waiting !== undefined) {
      waiting.reached();
      await waiting.go;
    }
    return [];
  });
  const live = runLive(t, [counter(), other]);
  const positionOf = async (name: string): Promise<string | undefined> => {
    const { rows } = await database.pool.query<{ position: string }>(
      `select position from "${schemas.runtime}".projection_builds where name = $1 and status = 'live'`,
      [name],
    );
    return rows[0]?.position;
  };
  const { position: first } = await store.append("s-a", "any", [event("Counted")]);
  for (let waited = 0; waited < 10_000 && (await positionOf("other")) !== first; waited += 20)
    await sleep(20);
  let reached!: () => void;
  const foldReached = new Promise<void>((resolve) => (reached = resolve));
  let go!: () => void;
  folding = { reached, go: new Promise<void>((resolve) => (go = resolve)) };
  const { position: second } = await store.append("s-a", "any", [event("Counted")]);
  await foldReached;
  folding = undefined;
  const swap = await database.pool.connect();
  try {
    await swap.query("begin");
    await swap.query(
      `select 1 from "${schemas.runtime}".projection_builds where name = 'counter' and status = 'live' for update`,
    );
    go();
    for (let waited = 0; waited < 5_000 && (await positionOf("other")) !== second; waited += 20)
      await sleep(20);
    t.is(await positionOf("other"), second, "the other build moved on while the row was held");
    t.is(await positionOf("counter"), first, "the held build waits");
    await swap.query("commit");
    for (let waited = 0; waited < 10_000 && (await positionOf("counter")) !== second; waited += 20)
      await sleep(20);
    t.is(await positionOf("counter"), second, "and follows once it is let go");
  } finally {
    go();
    swap.release();
    live.stop();
    await live.run;
  }
  t.deepEqual(await counts(t), { "s-a": 2 });
});

test("an event that cannot be applied stops that projection with an error naming it, keeps the progress before it, and the others run on", async (t) => {
  const { store } = t.context;
  await store.append("s-a", "any", [event("Counted"), event("Counted")]);
  const poison = event("Counted", { poison: true });
  await store.append("s-p", "any", [poison]);
  await store.append("s-a", "any", [event("Counted")]);
  const { outcomes, failed } = await runCounterBesideAnother(t);
  if (failed?.outcome !== "failed") return t.fail("the counter did not fail");
  t.true(failed.error instanceof ProjectionFailedError);
  t.like(failed.error, { projection: "counter", eventId: poison.id, eventType: "Counted" });
  t.regex(
    failed.error.message,
    /^projection counter stopped at event .* \(Counted, position [0-9a-f-]+\): poisoned event$/,
  );
  t.deepEqual(await counts(t), { "s-a": 2 }, "the two events before the poison are applied, nothing after");
  t.true(
    outcomes.some((outcome) => outcome.outcome === "stopped"),
    "the other projection ran on",
  );
  const live = await liveBuilds(t.context.db, t.context.schemas);
  t.regex(live.get("counter")?.error ?? "", /poisoned event/, "the error is in the registry");
});

test("a batch whose write PostgreSQL refuses stops only that projection, at the event at fault; the others' checkpoints move on", async (t) => {
  const { store } = t.context;
  await store.append("s-a", "any", [event("Counted"), event("Counted")]);
  const unwritable = event("Counted", { unwritable: true });
  await store.append("s-u", "any", [unwritable]);
  const { position: head } = await store.append("s-a", "any", [event("Counted")]);
  const { outcomes, failed } = await runCounterBesideAnother(t);
  if (failed?.outcome !== "failed") return t.fail("the counter did not fail");
  t.like(failed.error, { projection: "counter", eventId: unwritable.id, eventType: "Counted" });
  t.deepEqual(await counts(t), { "s-a": 2 }, "the two events before it are applied, nothing after");
  t.deepEqual(
    outcomes.filter((outcome) => outcome.outcome === "stopped"),
    [{ outcome: "stopped", position: head }],
    "the other projection read to the end",
  );
});

test("two runners of one build: one holds the lease, the other stands by; nothing is applied twice", async (t) => {
  const { store } = t.context;
  await store.append("s-a", "any", many(300));
  const all = (progress: ProjectionProgress) => progress.caughtUp && progress.position === lastPosition;
  let lastPosition = "";
  const one = runLive(t, [counter()], (progress) => all(progress));
  const two = runLive(t, [counter()], (progress) => all(progress));
  lastPosition = (await store.append("s-a", "any", many(50))).position;
  await Promise.race([one.reached, two.reached]);
  await sleep(300); // room for a second runner to (wrongly) apply the same events
  one.stop();
  two.stop();
  await Promise.all([one.run, two.run]);
  t.deepEqual(await counts(t), { "s-a": 350 });
});

test("blue/green rebuild: the new build catches up with the live one, verifies equal, swaps, retires the live runner, drops the old schema", async (t) => {
  const { store, db, schemas, database } = t.context;
  for (let index = 0; index < 20; index += 1) await store.append(`s-${index % 3}`, "any", many(50));
  const live = runLive(t, [counter()], (progress) => progress.caughtUp);
  await live.reached;
  const before = await liveBuilds(db, schemas);
  const oldSchema = before.get("counter")?.buildSchema ?? "";
  const digestBefore = await projectionDigest(db, counter(), oldSchema);
  // Writes keep coming while the rebuild runs; the swap brings the new build level with the old.
  const writing = (async () => {
    for (let index = 0; index < 20; index += 1) {
      await store.append("s-late", "any", many(5));
      await sleep(10);
    }
  })();
  const results = await rebuildProjections({
    pool: database.pool,
    db,
    store,
    schemas,
    projections: [counter()],
    signal: new AbortController().signal,
    batchSize: 64,
  });
  await writing;
  t.is(results.length, 1);
  const result = results[0];
  if (result?.outcome !== "swapped") return t.fail(JSON.stringify(result));
  t.true(result.verifiedAgainstLive);
  t.is(result.replaced, oldSchema);
  t.not(result.buildSchema, oldSchema);
  // The live runner finds its build retired at its next batch and ends.
  await store.append("s-after", "any", many(1));
  const outcomes = await live.run;
  t.like(outcomes.get(oldSchema), { outcome: "retired" });
  const { rows } = await database.pool.query(
    "select 1 from information_schema.schemata where schema_name = $1",
    [oldSchema],
  );
  t.is(rows.length, 0, "the old build's schema is dropped");
  // The new build, followed by a fresh runner, ends equal to a clean count of the log.
  const next = runLive(t, [counter()], (progress) => progress.caughtUp);
  await next.reached;
  next.stop();
  await next.run;
  const after = await counts(t);
  t.is(after["s-late"], 100);
  t.is(after["s-after"], 1);
  t.is(
    Object.values(after).reduce((a, b) => a + b, 0),
    1000 + 100 + 1,
  );
  t.not(digestBefore.digest, (await projectionDigest(db, counter(), result.buildSchema)).digest);
});

test("a build swapped out and dropped between its batch's read and write ends retired, not failed", async (t) => {
  const { store, db, schemas, database } = t.context;
  await store.append("s-a", "any", many(10));
  // The live runner's next fold is held until the rebuild has swapped and dropped its build.
  const gate = { closed: false };
  let release!: () => void;
  const holding = new Promise<void>((resolve) => (release = resolve));
  let folding!: () => void;
  const folded = new Promise<void>((resolve) => (folding = resolve));
  const base = counter();
  const held: Projection<CounterTables> = {
    ...base,
    async foldBatch(reader, events, schema) {
      const writes = await base.foldBatch(reader, events, schema);
      if (gate.closed) {
        folding();
        await holding;
      }
      return writes;
    },
  };
  const live = runLive(t, [held], (progress) => progress.caughtUp);
  await live.reached;
  const oldSchema = (await liveBuilds(db, schemas)).get("counter")?.buildSchema ?? "";
  gate.closed = true;
  await store.append("s-a", "any", many(1));
  await folded;
  const results = await rebuildProjections({
    pool: database.pool,
    db,
    store,
    schemas,
    projections: [counter()],
    signal: new AbortController().signal,
  });
  t.like(results[0], { outcome: "swapped", replaced: oldSchema });
  const { rows } = await database.pool.query(
    "select 1 from information_schema.schemata where schema_name = $1",
    [oldSchema],
  );
  t.is(rows.length, 0, "the old build's schema is gone before the held batch writes");
  release();
  t.like((await live.run).get(oldSchema), { outcome: "retired" });
  t.deepEqual(await counts(t), { "s-a": 11 });
});

test("a rebuild of a new version swaps without comparing digests; the views follow it", async (t) => {
  const { store, db, schemas, database } = t.context;
  await store.append("s-a", "any", many(10));
  const v1 = runLive(t, [counter(1)], (progress) => progress.caughtUp);
  await v1.reached;
  v1.stop();
  await v1.run;
  const [result] = await rebuildProjections({
    pool: database.pool,
    db,
    store,
    schemas,
    projections: [counter(2)],
    signal: new AbortController().signal,
  });
  t.like(result, { outcome: "swapped", verifiedAgainstLive: false });
  t.is((await liveBuilds(db, schemas)).get("counter")?.version, 2);
  t.deepEqual(await counts(t), { "s-a": 10 });
});

test("the digest does not depend on row order or on how the events were batched", async (t) => {
  const { store, db, schemas, database } = t.context;
  for (let index = 0; index < 30; index += 1) await store.append(`s-${index % 7}`, "any", many(7));
  const rebuild = (batchSize: number) =>
    rebuildProjections({
      pool: database.pool,
      db,
      store,
      schemas,
      projections: [counter()],
      signal: new AbortController().signal,
      batchSize,
    });
  const [first] = await rebuild(1000);
  const [second] = await rebuild(3);
  if (first?.outcome !== "swapped" || second?.outcome !== "swapped") return t.fail("a rebuild did not swap");
  t.true(second.verifiedAgainstLive);
  t.is(first.digest.digest, second.digest.digest);
  t.deepEqual(first.digest.rows, { counts: 7 });
});

test("a runner stopped before it starts, or while it takes its leases, returns at once instead of following the log", async (t) => {
  const { db, schemas, database, store } = t.context;
  await store.append("s-a", "any", many(5));
  const build = await createBuild(db, schemas, counter(), "live");
  const run = (signal: AbortSignal) =>
    runProjections({
      pool: database.pool,
      db,
      store,
      schemas,
      targets: [{ projection: counter(), buildSchema: build.buildSchema }],
      expectedStatus: "live",
      signal,
    });
  const within = (promise: Promise<unknown>, ms: number) =>
    Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);
  t.true(await within(run(AbortSignal.abort()), 3000), "already aborted");
  for (const delayMs of [0, 1, 5, 20]) {
    const controller = new AbortController();
    const running = run(controller.signal);
    await sleep(delayMs);
    controller.abort();
    t.true(await within(running, 3000), `aborted after ${delayMs} ms`);
  }
});

test("prune drops the tables of failed builds only; their registry rows stay, and a later build gets a new name", async (t) => {
  const { db, schemas, database } = t.context;
  const projection = counter();
  const live = await createBuild(db, schemas, projection, "live");
  const failed = await createBuild(db, schemas, projection, "building");
  await recordBuildFailure(db, schemas, failed.buildSchema, "boom");
  const exists = async (schema: string) =>
    (await database.pool.query("select 1 from pg_namespace where nspname = $1", [schema])).rowCount === 1;

  t.deepEqual(await dropFailedBuilds(db, schemas), [failed.buildSchema]);
  t.false(await exists(failed.buildSchema));
  t.true(await exists(live.buildSchema), "the live build is untouched");
  const rows = await listBuilds(db, schemas);
  t.like(
    rows.find((build) => build.buildSchema === failed.buildSchema),
    { status: "failed", error: "boom (schema dropped by prune)" },
  );
  t.deepEqual(await dropFailedBuilds(db, schemas), [], "nothing left to drop");
  // A row removed by hand must not bring a registered build's name round again (a new build drops
  // whatever schema has its name first).
  const kept = await createBuild(db, schemas, projection, "building");
  await recordBuildFailure(db, schemas, kept.buildSchema, "kept for inspection");
  await database.pool.query(`delete from "${schemas.runtime}".projection_builds where build_schema = $1`, [
    failed.buildSchema,
  ]);
  const next = await createBuild(db, schemas, projection, "building");
  t.false(
    [live.buildSchema, failed.buildSchema, kept.buildSchema].includes(next.buildSchema),
    next.buildSchema,
  );
  t.true(await exists(live.buildSchema), "the live build is still there");
  t.true(await exists(kept.buildSchema), "so is the failed one not yet pruned");
});
