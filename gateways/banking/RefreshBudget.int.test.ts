import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { openTestDatabase, type TestDatabase } from "../../test/postgresTestDatabase.ts";
import { RefreshBudget } from "./RefreshBudget.ts";

type Context = TestDatabase & { budget: RefreshBudget; budgetSchema: string };
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestDatabase());
  t.context.budgetSchema = `${t.context.schema}_banking`;
  t.context.budget = new RefreshBudget(t.context.pool, t.context.budgetSchema);
  await t.context.budget.migrate();
});

test.afterEach.always(async (t) => {
  await t.context.pool.query(`drop schema if exists "${t.context.budgetSchema}" cascade`);
  await t.context.dispose();
});

/** Noon UTC on 2026-12-07, and one day later for each `days`. */
const noon = (days = 0) => Date.UTC(2026, 11, 7, 12) + days * 86_400_000;

async function readsClaimed(t: { context: Context }, accountId: string, day: string): Promise<number> {
  const { rows } = await t.context.pool.query<{ count: string }>(
    `select count(*) from "${t.context.budgetSchema}".refresh_reads where account_id = $1 and day = $2`,
    [accountId, day],
  );
  return Number(rows[0]?.count);
}

test("twelve requests for each of 40 accounts at once: exactly four reads each are granted, and recorded", async (t) => {
  const accounts = Array.from({ length: 40 }, (_, index) => `acc-${index}`);
  const granted = await Promise.all(
    accounts.flatMap((accountId) =>
      Array.from({ length: 12 }, async () => ({
        accountId,
        granted: await t.context.budget.claim(accountId, noon(), randomUUID()),
      })),
    ),
  );
  for (const accountId of accounts) {
    t.is(granted.filter((claim) => claim.accountId === accountId && claim.granted).length, 4, accountId);
    t.is(await readsClaimed(t, accountId, "2026-12-07"), 4, accountId);
  }
});

test("claims made while others are on the wire go together; two budgets claiming the same accounts in opposite orders never deadlock", async (t) => {
  const statements: string[] = [];
  const counted = new Proxy(t.context.pool, {
    get: (target, key) =>
      key === "query"
        ? (text: string, values?: unknown[]) => {
            statements.push(text);
            return target.query(text, values);
          }
        : (Reflect.get(target, key, target) as unknown),
  });
  // Two replicas' budgets over one table; each takes accounts in the other's reverse order, so
  // their statements want the same locks at once (PostgreSQL would fail one with a deadlock).
  const [mine, theirs] = [
    new RefreshBudget(counted, t.context.budgetSchema),
    new RefreshBudget(counted, t.context.budgetSchema),
  ];
  const accounts = Array.from({ length: 30 }, (_, index) => `acc-${index}`);
  const requestsOf = () =>
    accounts.flatMap((accountId) =>
      [randomUUID(), randomUUID(), randomUUID()].map((id) => ({ accountId, id })),
    );
  // Several days, each a fresh budget: the locks' waits cross again each time.
  for (const day of [0, 1, 2, 3, 4]) {
    statements.length = 0;
    const requests = requestsOf();
    const granted = await Promise.all([
      ...requests.map(({ accountId, id }) => mine.claim(accountId, noon(day), id)),
      ...requests.toReversed().map(({ accountId }) => theirs.claim(accountId, noon(day), randomUUID())),
    ]);
    t.is(
      granted.filter(Boolean).length,
      accounts.length * 4,
      `${day}: four a day for each account, six asked`,
    );
    t.true(
      statements.length < granted.length / 4,
      `${statements.length} statements for ${granted.length} claims`,
    );
  }
  for (const accountId of accounts) t.is(await readsClaimed(t, accountId, "2026-12-07"), 4, accountId);
});

test("claims batched in a statement that fails are made again one by one, each granted once", async (t) => {
  let failures = 0;
  const failing = new Proxy(t.context.pool, {
    get: (target, key) =>
      key === "query"
        ? (text: string, values?: unknown[]) => {
            if (text.includes("claim_refresh_reads") && failures === 0) {
              failures += 1;
              return Promise.reject(new Error("Connection terminated unexpectedly"));
            }
            return target.query(text, values);
          }
        : (Reflect.get(target, key, target) as unknown),
  });
  const budget = new RefreshBudget(failing, t.context.budgetSchema);
  const granted = await Promise.all(
    Array.from({ length: 6 }, (_, index) => budget.claim(`acc-${index % 2}`, noon(), randomUUID())),
  );
  t.is(failures, 1, "the batched statement failed once");
  t.deepEqual(granted, [true, true, true, true, true, true]);
  t.is(await readsClaimed(t, "acc-0", "2026-12-07"), 3);
  t.is(await readsClaimed(t, "acc-1", "2026-12-07"), 3);
});

test("a redelivered request finds its claim, even with the budget spent; it spends nothing", async (t) => {
  const first = randomUUID();
  t.true(await t.context.budget.claim("acc-1", noon(), first));
  for (let read = 0; read < 3; read += 1) t.true(await t.context.budget.claim("acc-1", noon(), randomUUID()));
  t.false(await t.context.budget.claim("acc-1", noon(), randomUUID()), "the fifth is refused");
  t.true(await t.context.budget.claim("acc-1", noon(), first), "the first again: its own claim");
  t.is(await readsClaimed(t, "acc-1", "2026-12-07"), 4);
  t.true(await t.context.budget.claim("acc-1", noon(1), randomUUID()), "24 hours on, a new read");
  t.true(await t.context.budget.claim("acc-2", noon(), randomUUID()), "another account's own budget");
});

test("the budget is four in any 24 hours, not per calendar day: four before midnight leave none after it", async (t) => {
  const at = (hours: number, minutes: number) => Date.UTC(2026, 11, 7, hours, minutes);
  for (const minutes of [50, 55])
    t.true(await t.context.budget.claim("acc-1", at(22, minutes), randomUUID()));
  for (const minutes of [5, 25]) t.true(await t.context.budget.claim("acc-1", at(23, minutes), randomUUID()));
  t.false(
    await t.context.budget.claim("acc-1", at(24, 10), randomUUID()),
    "00:10 the next day: four in 24 hours",
  );
  t.false(await t.context.budget.claim("acc-1", at(46, 49), randomUUID()), "22:49 the next day: still four");
  t.true(await t.context.budget.claim("acc-1", at(46, 50), randomUUID()), "the first is 24 hours old");
  t.false(await t.context.budget.claim("acc-1", at(46, 51), randomUUID()));
});

test("a claim waits for a claim made the way replicas before the function made it (same lock)", async (t) => {
  const client = await t.context.pool.connect();
  try {
    await client.query("begin");
    await client.query("select pg_advisory_xact_lock(hashtext($1))", [
      `${t.context.budgetSchema}:acc-1:2026-12-07`,
    ]);
    let settled = false;
    const claim = t.context.budget.claim("acc-1", noon(), randomUUID()).finally(() => (settled = true));
    await sleep(300);
    t.false(settled, "the claim waits while the old replica's transaction holds the account's lock");
    await client.query("commit");
    t.true(await claim);
  } finally {
    client.release();
  }
});
