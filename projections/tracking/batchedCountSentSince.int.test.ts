import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import type { Instant } from "../../domain/values/Instant.ts";
import { openTestDatabase, type TestDatabase } from "../../test/postgresTestDatabase.ts";
import type { TrackingTables } from "./TrackingTables.ts";
import { trackingProjection } from "./trackingProjection.ts";
import { batchedCountSentSince, countSentSince } from "./trackingQueries.ts";

type Context = TestDatabase & { db: Kysely<TrackingTables> };
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestDatabase());
  t.context.db = new Kysely<TrackingTables>({ dialect: new PostgresDialect({ pool: t.context.pool }) });
  // The tracking read model's own table (and indexes), with rows that differ in what the cap reads.
  await t.context.pool.query(`create schema "${t.context.schema}"`);
  await trackingProjection.setUp(t.context.db, t.context.schema);
  const rows: [string, string, string | null, string, string][] = [];
  for (const account of ["a1", "a2", "a3"]) {
    ["low-balance", "payday", null].forEach((rule, r) => {
      ["submitted", "delivered", "suppressed", "requested", "rejected"].forEach((status, s) => {
        const minute = String(10 + r * 5 + s).padStart(2, "0");
        rows.push([
          `${account}-${rule ?? "none"}-${status}`,
          account,
          rule,
          `2026-01-15T10:${minute}:00.000Z`,
          status,
        ]);
      });
    });
  }
  for (const row of rows) {
    await t.context.pool.query(
      `insert into "${t.context.schema}".notifications (notification_id, account_id, rule_id, requested_at,
         status, message_class, template_id, variables, body, encoding, segments, recipient, attempts,
         valid_until, last_event_at, requested_position, last_position, transitions, lifecycle)
       values ($1, $2, $3, $4, $5, 'service', 'template', '{}', 'body', 'GSM-7', 1, '+447911123456', 1,
         $4, $4, $1, $1, 1, '[]')`,
      row,
    );
  }
});

test.afterEach.always(async (t) => {
  await t.context.dispose();
});

/** Every combination of account, rule, since and exception: answered alone and all at once. */
function questions(): { accountId: string; ruleId: string; since: Instant; except: string }[] {
  const asked = [];
  for (const accountId of ["a1", "a2", "a3", "nobody"])
    for (const ruleId of ["low-balance", "payday", "unknown"])
      for (const since of [
        "2026-01-15T10:00:00.000Z",
        "2026-01-15T10:11:00.000Z",
        "2026-01-15T10:17:00.000Z",
      ])
        for (const except of [`${accountId}-${ruleId}-submitted`, "none"])
          asked.push({ accountId, ruleId, since: since as Instant, except });
  return asked;
}

test("many questions at once: each answered as it is alone, in fewer statements than questions", async (t) => {
  const { db, schema, pool } = t.context;
  const asked = questions();
  const alone: number[] = [];
  for (const q of asked)
    alone.push(await countSentSince(db, schema, q.accountId, q.ruleId, q.since, q.except));
  t.true(alone.some((count) => count > 1) && alone.includes(0), "the questions have different answers");
  let statements = 0; // Kysely takes a connection from the pool for each statement
  pool.on("acquire", () => (statements += 1));
  const count = batchedCountSentSince(db, schema);
  const together = await Promise.all(asked.map((q) => count(q.accountId, q.ruleId, q.since, q.except)));
  t.deepEqual(together, alone);
  t.true(
    statements <= Math.ceil(asked.length / 64) + 1,
    `${statements} statements for ${asked.length} questions`,
  );
});

test("a batch that fails is asked again one question at a time: only the bad question fails", async (t) => {
  const { db, schema } = t.context;
  const count = batchedCountSentSince(db, schema);
  const good = count("a1", "low-balance", "2026-01-15T10:00:00.000Z" as Instant, "none");
  // A NUL cannot be sent as text: the batch fails as a whole, and this question alone.
  const bad = count("a1\u0000", "low-balance", "2026-01-15T10:00:00.000Z" as Instant, "none");
  const also = count("a2", "low-balance", "2026-01-15T10:00:00.000Z" as Instant, "none");
  await t.throwsAsync(bad);
  t.is(await good, 3);
  t.is(await also, 3);
});
