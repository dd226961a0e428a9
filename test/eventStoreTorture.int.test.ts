import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import test from "ava";
import pg from "pg";
import { checkArchive } from "../gateways/eventLogArchive/checkArchive.ts";
import { exportEventLog } from "../gateways/eventLogArchive/exportEventLog.ts";
import { importEventLog } from "../gateways/eventLogArchive/importEventLog.ts";
import type { EventStore, EventWithoutMetadata } from "../gateways/eventStore/EventStore.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { comparePositions } from "../gateways/eventStore/Position.ts";
import { PostgresCluster } from "../bin/drill/PostgresCluster.ts";
import { openTestEventStore } from "./postgresTestDatabase.ts";

/**
 * The PostgreSQL event store under torture: several processes of several writers on shared
 * streams, with every kind of expectation, retries, transactions held open and committed or
 * rolled back, row locks held by others, and one writer process SIGKILLed half-way. Then every
 * stream must stand in revision order in the global log and in every subscription, every
 * acknowledged event be there once, and the log survive export, verify and import into a new
 * cluster unchanged. Short by default; for minutes: TORTURE_SECONDS=600 npx ava test/eventStoreTorture.int.test.ts
 * (also TORTURE_PROCESSES, TORTURE_WRITERS per process, TORTURE_STREAMS).
 */
const SECONDS = Number(process.env.TORTURE_SECONDS ?? 8);
const PROCESSES = Number(process.env.TORTURE_PROCESSES ?? 3);
const WRITERS = Number(process.env.TORTURE_WRITERS ?? 6);
const STREAMS = Number(process.env.TORTURE_STREAMS ?? 30);

interface Writer {
  readonly child: ChildProcess;
  readonly acknowledged: Set<string>;
  readonly finished: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    done: string | undefined;
  }>;
}

function startWriter(schema: string, name: string): { writer: Writer; running: Promise<void> } {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "test/tortureWriter.ts",
      schema,
      String(STREAMS),
      String(SECONDS),
      String(WRITERS),
      name,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const acknowledged = new Set<string>();
  let done: string | undefined;
  let markRunning!: () => void;
  const running = new Promise<void>((resolve) => (markRunning = resolve));
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    if (line === "running") markRunning();
    else if (line.startsWith("ack ")) for (const id of line.slice(4).split(" ")) acknowledged.add(id);
    else if (line.startsWith("done ")) done = line.slice(5);
    else if (line.startsWith("error ")) console.error(`${name}: ${line}`);
  });
  // "close": the process has exited and its stdout is drained, so every "ack" line has been read.
  const finished = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    done: string | undefined;
  }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal, done })));
  return { writer: { child, acknowledged, finished }, running };
}

/** Follows the log from the start, keeping every event it is handed. */
function follow(store: EventStore, withoutMetadata: boolean) {
  const seen: EventWithoutMetadata[] = [];
  const subscription = withoutMetadata
    ? store.subscribeWithoutMetadata({ batchSize: 200 })
    : store.subscribe();
  const consuming = (async () => {
    for await (const message of subscription) if (message.kind === "events") seen.push(...message.events);
  })();
  return { seen, close: async () => (await subscription.close(), await consuming) };
}

/** Streams whose revisions do not run 0, 1, 2, … in this order of events, with the first offender. */
function revisionOrderFaults(events: readonly EventWithoutMetadata[]): string[] {
  const next = new Map<string, number>();
  const faults: string[] = [];
  for (const event of events) {
    const expected = next.get(event.streamId) ?? 0;
    if (event.revision !== expected)
      faults.push(`${event.streamId} revision ${event.revision} where ${expected} was due`);
    next.set(event.streamId, Math.max(expected, event.revision + 1));
  }
  return faults;
}

function digest(events: readonly EventWithoutMetadata[]): string {
  const hash = createHash("sha256");
  for (const event of events) {
    hash.update(
      `${event.position} ${event.id} ${event.streamId} ${event.revision} ${event.type} ${JSON.stringify(event.data)}\n`,
    );
  }
  return hash.digest("hex");
}

async function everyEvent(store: EventStore): Promise<EventWithoutMetadata[]> {
  const events = [];
  for await (const event of store.readAll()) events.push(event);
  return events;
}

test("torture: writers in several processes, held and rolled-back transactions, a SIGKILL — every stream in order, every acknowledged event once, and the log restores into a new cluster", async (t) => {
  t.timeout((SECONDS + 180) * 1000);
  const source = await openTestEventStore(8);
  const followers = [follow(source.store, false), follow(source.store, true)];
  const work = await mkdtemp(join(tmpdir(), "tidemark-torture-"));
  await chmod(work, 0o755); // the new cluster's server runs as postgres when we are root
  let cluster: PostgresCluster | undefined;
  let pool: pg.Pool | undefined;
  try {
    const started = Array.from({ length: PROCESSES }, (_, index) =>
      startWriter(source.database.schema, `p${index}`),
    );
    await Promise.all(started.map(({ running }) => running));
    const writers = started.map(({ writer }) => writer);
    const victim = writers[0]!;
    await sleep((SECONDS * 1000) / 2);
    victim.child.kill("SIGKILL");
    const outcomes = await Promise.all(writers.map((writer) => writer.finished));
    t.is(outcomes[0]?.signal, "SIGKILL", "the first writer was killed mid-flight");
    for (const [index, outcome] of outcomes.entries()) {
      if (index === 0) continue;
      t.is(outcome.code, 0, `writer p${index} finished cleanly (${outcome.done ?? "no counts"})`);
    }

    const events = await everyEvent(source.store);
    const ids = new Set(events.map((event) => event.id));
    t.is(ids.size, events.length, "no event id twice in the log");
    t.true(
      events.every(
        (event, index) => index === 0 || comparePositions(events[index - 1]!.position, event.position) < 0,
      ),
      "positions strictly increase",
    );
    const faults = revisionOrderFaults(events);
    t.deepEqual(
      faults.slice(0, 5),
      [],
      `${faults.length} events out of their stream's revision order in the log`,
    );
    const lost = writers.flatMap((writer) => [...writer.acknowledged].filter((id) => !ids.has(id)));
    t.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged events missing`);

    const deadline = Date.now() + 30_000;
    while (followers.some((follower) => follower.seen.length < events.length) && Date.now() < deadline)
      await sleep(50);
    await sleep(200);
    for (const [index, follower] of followers.entries()) {
      t.deepEqual(
        follower.seen.map((event) => event.id),
        events.map((event) => event.id),
        `subscription ${index} saw the log as readAll does`,
      );
      t.deepEqual(
        revisionOrderFaults(follower.seen).slice(0, 5),
        [],
        `subscription ${index}: streams in order`,
      );
    }

    const archive = join(work, "archive");
    await exportEventLog({ store: source.store, directory: archive, eventsPerFile: 5_000 });
    const checked = await checkArchive(archive);
    t.is(checked.inversions, 0);
    cluster = await PostgresCluster.initialize({ directory: join(work, "cluster") });
    pool = new pg.Pool({ connectionString: cluster.url(), max: 4 });
    const imported = await importEventLog({ pool, schema: "tidemark", directory: archive });
    t.is(imported.events, events.length);
    const restored = new PostgresEventStore(pool, { schema: "tidemark" });
    const restoredEvents = await everyEvent(restored);
    await restored.close();
    t.is(digest(restoredEvents), digest(events), "the new cluster's log has the source's digest");

    const acknowledged = writers.reduce((sum, writer) => sum + writer.acknowledged.size, 0);
    t.log(
      `${PROCESSES} processes × ${WRITERS} writers, ${SECONDS} s: ${events.length} events in ` +
        `${new Set(events.map((event) => event.streamId)).size} streams, ${acknowledged} acknowledged, ` +
        `inversions ${faults.length}; ${outcomes.map((outcome) => outcome.done ?? "killed").join(" ")}`,
    );
  } finally {
    await Promise.all(followers.map((follower) => follower.close()));
    await pool?.end();
    await cluster?.stop();
    await source.dispose();
    await rm(work, { recursive: true, force: true });
  }
});
