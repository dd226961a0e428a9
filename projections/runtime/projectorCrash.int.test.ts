import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import { loadRules } from "../../commands/rules/loadRules.ts";
import type { Position } from "../../gateways/eventStore/Position.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import { allProjections } from "../allProjections.ts";
import {
  createRegistry,
  listBuilds,
  liveBuilds,
  projectionSchemas,
  type ProjectionSchemas,
} from "./ProjectionBuilds.ts";
import { projectionDigest } from "./projectionDigest.ts";
import { rebuildProjections } from "./rebuildProjections.ts";

type Context = TestEventStore & { db: Kysely<unknown>; schemas: ProjectionSchemas };
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore(30));
  t.context.db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: t.context.database.pool }) });
  t.context.schemas = projectionSchemas(t.context.database.schema);
});

test.after.always(async (t) => {
  const builds = await listBuilds(t.context.db, t.context.schemas).catch(() => []);
  await t.context.dispose([
    ...builds.map((build) => build.buildSchema),
    t.context.schemas.read,
    t.context.schemas.runtime,
  ]);
});

/** A small seeded PRNG, so each round's kill points differ but a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 4294967296;
  };
}

function startProjector(schema: string): { child: ChildProcess; consuming: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", "test/projectorProcess.ts", schema], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const consuming = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      // A progress line means a batch has been committed: the process is mid-consumption.
      if (/ [0-9a-f]{16}-[0-9a-f]{16}/.test(chunk.toString())) resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`projector exited (${code ?? signal}) before consuming: ${output}`)),
    );
  });
  consuming.catch(() => undefined);
  return { child, consuming };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

async function allLiveAt(t: { context: Context }, head: Position): Promise<boolean> {
  const live = await liveBuilds(t.context.db, t.context.schemas);
  return allProjections.every((projection) => (live.get(projection.name)?.position ?? "") >= head);
}

const ROUNDS = [11, 23, 37];

test.serial(
  "a projector SIGKILLed at random moments while consuming ≥50,000 events ends with read models equal to a clean rebuild, round after round",
  async (t) => {
    t.timeout(600_000);
    const { store, database, db, schemas } = t.context;
    const rules = await loadRules();
    let events = await generateEventLog(store, { accounts: 1000, events: 50_000, seed: 7 }, rules);
    let head = "" as Position;
    for await (const event of store.readAll()) head = event.position;

    for (const seed of ROUNDS) {
      const random = seeded(seed);
      // A fresh start: no builds, every read model consumed from position zero again.
      await createRegistry(db, schemas);
      for (const build of await listBuilds(db, schemas))
        await database.pool.query(`drop schema if exists "${build.buildSchema}" cascade`);
      await database.pool.query(`drop schema if exists "${schemas.runtime}" cascade`);
      await database.pool.query(`drop schema if exists "${schemas.read}" cascade`);
      await createRegistry(db, schemas);

      let kills = 0;
      let appendedDuringRound = 0;
      while (kills < 6 || !(await allLiveAt(t, head))) {
        const { child, consuming } = startProjector(database.schema);
        await consuming;
        // Live writes while the projector runs, so some kills land on live batches too.
        if (kills % 2 === 1) {
          const more = await generateEventLog(
            store,
            { accounts: 50, events: 1_000, seed: seed * 100 + kills, prefix: `live-${seed}-${kills}` },
            rules,
          );
          appendedDuringRound += more;
        }
        await sleep(50 + random() * 700);
        if (kills >= 6 && (await allLiveAt(t, head))) {
          child.kill("SIGTERM");
          await once(child, "exit");
          break;
        }
        await kill(child);
        kills += 1;
        for await (const event of store.readAll(head)) head = event.position;
        if (kills > 60) return t.fail(`round ${seed}: still not caught up after ${kills} kills`);
      }
      // Let one last run finish the tail, then stop it gently.
      const last = startProjector(database.schema);
      await last.consuming.catch(() => undefined);
      for (let waited = 0; !(await allLiveAt(t, head)) && waited < 60_000; waited += 100) await sleep(100);
      last.child.kill("SIGTERM");
      await once(last.child, "exit");
      events += appendedDuringRound;
      t.true(await allLiveAt(t, head), `round ${seed}: the read models reached the head`);

      const live = await liveBuilds(db, schemas);
      const before = new Map<string, string>();
      for (const projection of allProjections) {
        const build = live.get(projection.name);
        if (build === undefined) return t.fail(`no live ${projection.name}`);
        before.set(projection.name, (await projectionDigest(db, projection, build.buildSchema)).digest);
      }
      // A clean rebuild from zero; the swap itself refuses to go ahead when digests differ.
      const results = await rebuildProjections({
        pool: database.pool,
        db,
        store,
        schemas,
        projections: allProjections,
        signal: new AbortController().signal,
      });
      for (const result of results) {
        if (result.outcome !== "swapped") return t.fail(`round ${seed}: ${JSON.stringify(result)}`);
        t.true(result.verifiedAgainstLive);
        t.is(
          result.digest.digest,
          before.get(result.projection) ?? "(none)",
          `round ${seed}: ${result.projection} equals a clean rebuild`,
        );
      }
      t.log(
        `round ${seed}: ${kills} kills, ${events.toLocaleString("en")} events in the log, digests equal to a clean rebuild`,
      );
    }
    t.true(events >= 50_000, `${events} events in the log, each round consuming all of them`);
  },
);
