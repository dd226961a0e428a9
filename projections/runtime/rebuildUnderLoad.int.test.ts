import anyTest, { type TestFn } from "ava";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { startTestSystem, type TestSystem } from "../../test/startTestSystem.ts";
import { allProjections } from "../allProjections.ts";
import type { QueryCache } from "../api/QueryCache.ts";
import { liveBuilds } from "./ProjectionBuilds.ts";
import { projectionDigest } from "./projectionDigest.ts";
import { rebuildProjections } from "./rebuildProjections.ts";

const test = anyTest as TestFn<TestSystem>;
const KEY = "reader-key-0123456789abcdef";

/** Every request reads the views: the rebuild must be invisible to PostgreSQL queries themselves. */
const noCache: QueryCache = {
  get: () => Promise.resolve(undefined),
  set: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

test.before(async (t) => {
  Object.assign(
    t.context,
    await startTestSystem([{ name: "dashboard", key: KEY, scopes: ["queries:read", "pii:read"] }], {
      cache: noCache,
    }),
  );
});

test.after.always(async (t) => {
  await t.context.close();
});

async function digests(system: TestSystem): Promise<Map<string, string>> {
  const live = await liveBuilds(system.db, system.schemas);
  const result = new Map<string, string>();
  for (const projection of allProjections) {
    const build = live.get(projection.name);
    if (build !== undefined)
      result.set(projection.name, (await projectionDigest(system.db, projection, build.buildSchema)).digest);
  }
  return result;
}

test("a blue/green rebuild of every read model while clients hammer the query API: no error, every answer whole, digests unchanged", async (t) => {
  t.timeout(300_000);
  const system = t.context;
  let head = "";
  await generateEventLog(system.store, { accounts: 400, events: 20_000, seed: 3 }, await loadRules());
  for await (const event of system.store.readAll()) head = event.position;
  const paths = [
    "/accounts/gen-1",
    "/accounts/gen-399",
    "/qualifications?limit=100",
    "/qualifications?status=active&limit=20",
    "/notifications?limit=100",
    "/notifications?status=delivered&limit=10",
    "/reports/funnel?from=2026-11-01&to=2026-11-30",
    "/reports/providers?from=2026-11-01&to=2026-11-30&format=csv",
  ];
  const fetchText = async (path: string) => {
    const response = await fetch(`${system.queryUrl}${path}`, {
      headers: { authorization: `Bearer ${KEY}`, "x-min-position": head },
    });
    return { status: response.status, text: await response.text() };
  };
  // With no writes, every answer during the rebuild must equal the answer before it.
  const expected = new Map<string, string>();
  for (const path of paths) {
    const answer = await fetchText(path);
    t.is(answer.status, 200, path);
    t.true(answer.text.length > 100, `${path} has content`);
    expected.set(path, answer.text);
  }
  const before = await digests(system);
  t.is(before.size, allProjections.length);

  let rebuilding = true;
  let requests = 0;
  const failures: string[] = [];
  const hammer = async (client: number) => {
    for (let index = client; rebuilding; index += 1) {
      const path = paths[index % paths.length] ?? "/accounts/gen-1";
      try {
        const answer = await fetchText(path);
        requests += 1;
        if (answer.status !== 200) failures.push(`${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
        else if (answer.text !== expected.get(path))
          failures.push(
            `${path}: the answer differs (${answer.text.length} bytes, expected ${expected.get(path)?.length})`,
          );
      } catch (error) {
        failures.push(`${path}: ${String(error)}`);
      }
    }
  };
  const clients = Array.from({ length: 8 }, (_, client) => hammer(client));
  const startedAt = Date.now();
  const results = await rebuildProjections({
    pool: system.database.pool,
    db: system.db,
    store: system.store,
    schemas: system.schemas,
    projections: allProjections,
    signal: new AbortController().signal,
    batchSize: 500, // small batches: the rebuild lasts long enough to be hammered throughout
  });
  const rebuildMs = Date.now() - startedAt;
  // Keep hammering a little after the swap, against the new builds.
  await new Promise((resolve) => setTimeout(resolve, 300));
  rebuilding = false;
  await Promise.all(clients);

  t.deepEqual(
    results.map((result) => result.outcome),
    allProjections.map(() => "swapped"),
  );
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} failed answers of ${requests}`);
  t.true(requests > 50, `${requests} requests during the rebuild`);
  const after = await digests(system);
  t.deepEqual(after, before, "the digests after the swap equal the ones before");
  const live = await liveBuilds(system.db, system.schemas);
  for (const result of results) t.is(live.get(result.projection)?.buildSchema, result.buildSchema);
  t.log(
    `${requests} answers during a ${rebuildMs} ms rebuild of ${allProjections.length} read models, ${failures.length} failed`,
  );
});
