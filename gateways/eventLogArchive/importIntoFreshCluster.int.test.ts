import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import pg from "pg";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { PostgresCluster } from "../../bin/drill/PostgresCluster.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { openTestEventStore } from "../../test/postgresTestDatabase.ts";
import { rebuildReadModels } from "../../test/readModelDigests.ts";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { PostgresEventStore } from "../eventStore/postgres/PostgresEventStore.ts";
import { comparePositions, positionParts, START } from "../eventStore/Position.ts";
import { exportEventLog } from "./exportEventLog.ts";
import { importEventLog } from "./importEventLog.ts";

test("export → import into a new cluster (transaction ids restart lower) → rebuild: digests equal the source's; new appends sort after", async (t) => {
  t.timeout(180_000);
  const work = await mkdtemp(join(tmpdir(), "tidemark-fresh-"));
  await chmod(work, 0o755); // the cluster's server runs as postgres when we are root
  const source = await openTestEventStore();
  const cluster = await PostgresCluster.initialize({ directory: join(work, "cluster") });
  const pool = new pg.Pool({ connectionString: cluster.url(), max: 12 });
  const target = new PostgresEventStore(pool, { schema: "tidemark" });
  const sourcePrefix = `${source.database.schema}_rm`;
  const sourceModels: { drop: () => Promise<void> } = { drop: () => Promise.resolve() };
  try {
    const events = await generateEventLog(
      source.store,
      { accounts: 300, events: 5_000, seed: 11 },
      await loadRules(),
    );
    const built = await rebuildReadModels(source.database.pool, source.store, sourcePrefix);
    sourceModels.drop = built.drop;

    const archive = join(work, "archive");
    const manifest = await exportEventLog({ store: source.store, directory: archive, eventsPerFile: 2000 });
    t.is(manifest.events, events);

    const [lastOrder] = positionParts(manifest.lastPosition as Parameters<typeof positionParts>[0]);
    const { rows } = await pool.query<{ xid: string }>("select pg_current_xact_id()::text as xid");
    const freshXid = BigInt(rows[0]?.xid ?? "0");
    t.true(
      freshXid < lastOrder,
      `the new cluster's transaction ids (${freshXid}) start below the archive's (${lastOrder})`,
    );

    const imported = await importEventLog({ pool, schema: "tidemark", directory: archive });
    t.is(imported.events, events);

    // Live before the first new append: a subscriber from zero must see every event, old and new.
    const seen: RecordedEvent[] = [];
    const subscription = target.subscribe({ from: START });
    const following = (async () => {
      for await (const message of subscription) {
        if (message.kind === "events") seen.push(...message.events);
        if (seen.length === events + 1) return;
      }
    })();
    const appended = await target.append("probe-after-import", "no_stream", [
      {
        id: "00000000-0000-4000-8000-00000000a001",
        type: "Probe",
        data: {},
        metadata: { correlationId: "probe", actor: "test" },
      },
    ]);
    t.true(comparePositions(appended.position, manifest.lastPosition as typeof appended.position) > 0);
    await following;
    await subscription.close();
    t.is(seen.length, events + 1);
    t.is(seen.at(-1)?.position, appended.position, "the new event last");

    const rebuilt = await rebuildReadModels(pool, target, "tidemark");
    t.deepEqual(rebuilt.digests, built.digests, "every read model equal to the source's");
    t.log(
      `${events} events; fresh cluster xid ${freshXid} < archive's ${lastOrder}; digests: ${[
        ...rebuilt.digests,
      ]
        .map(([name, digest]) => `${name} ${digest.slice(0, 12)}`)
        .join(", ")}`,
    );
  } finally {
    await target.close();
    await pool.end();
    await cluster.destroy();
    await sourceModels.drop();
    await source.dispose();
    await rm(work, { recursive: true, force: true });
  }
});
