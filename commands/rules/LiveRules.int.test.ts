import test from "ava";
import { pino } from "pino";
import { openTestEventStore } from "../../test/postgresTestDatabase.ts";
import { startLiveRules } from "./LiveRules.ts";
import { loadRules } from "./loadRules.ts";

const logger = pino({ level: "silent" });

test("while the log is being imported (appends refused), the rules file is in force as version 0; the stream takes over once a version is in it", async (t) => {
  const { database, store, dispose } = await openTestEventStore(4);
  t.teardown(dispose);
  await database.pool.query(
    `update "${database.schema}".log_origin set importing_archive = '00000000-0000-4000-8000-000000000001'`,
  );
  const during = await startLiveRules(store, { clock: Date.now, logger, pollMs: 60_000 });
  t.teardown(() => during.stop());
  t.is(during.current().version, 0);
  t.deepEqual(
    during.current().inForce.map((rule) => [rule.id, rule.threshold.currency, rule.inForceSinceMs]),
    (await loadRules()).map((rule) => [rule.id, rule.threshold.currency, 0]),
  );
  t.deepEqual(during.versions(), []);

  await database.pool.query(`update "${database.schema}".log_origin set importing_archive = null`);
  const after = await startLiveRules(store, { clock: Date.now, logger, pollMs: 60_000 });
  t.teardown(() => after.stop());
  t.is(after.current().version, 1);
  await during.refresh();
  t.is(during.current().version, 1, "the process that started during the import follows the stream");
});
