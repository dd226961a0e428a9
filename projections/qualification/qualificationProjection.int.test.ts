import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect, sql } from "kysely";
import type { AccountCommand } from "../../domain/account/AccountCommand.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { Currency } from "../../domain/values/Money.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";
import { handleCommand } from "../../commands/handleCommand.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { collect, event } from "../../gateways/eventStore/eventStoreContract.ts";
import type { EventToAppend } from "../../gateways/eventStore/EventStore.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { applyEvents } from "../runtime/applyEvents.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import { listQualifications, type QualificationView } from "./qualificationQueries.ts";
import type { QualificationTables } from "./QualificationsTable.ts";
import { qualificationProjection } from "./qualificationProjection.ts";

interface Context extends TestEventStore {
  readonly db: Kysely<QualificationTables>;
  readonly schema: string;
  /** A second log, for events the projection must refuse (they would stop every build of the first). */
  readonly faulty: TestEventStore;
}

const test = anyTest as TestFn<Context>;

const faultySchemaOf = (t: { context: Context }) => `${t.context.faulty.database.schema}_qualification`;

const minute = (minutes: number) => epochMsToInstant(Date.UTC(2026, 10, 24, 9, minutes));

/** The episodes the scenario below produces, in the order they began. */
const EPISODES = [
  "acc-1/low-balance/GBP#1",
  "acc-1/overdrawn/GBP#1",
  "acc-2/low-balance/GBP#1",
  "acc-3/low-balance/EUR#1",
  "acc-3/overdrawn/EUR#1",
  "acc-1/low-balance/GBP#2",
];

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  const { store, database } = t.context;
  const decider = accountDecider(await loadRules());
  const options = { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } };
  let clock = 0;
  const run = async (accountId: string, command: AccountCommand) => {
    const outcome = await handleCommand(store, decider, `account-${accountId}`, command, options);
    if (outcome.outcome !== "accepted")
      throw new Error(`${command.type} on ${accountId}: ${outcome.outcome}`);
  };
  const open = (accountId: string, currency: Currency) =>
    run(accountId, {
      type: "OpenAccount",
      data: {
        accountId,
        customerId: `customer-of-${accountId}`,
        phone: "+447911123456" as PhoneNumber,
        currency,
        timeZone: "Europe/London" as TimeZone,
        consents: { service: true, marketing: true },
        now: minute(clock),
      },
    });
  const balance = (accountId: string, decimal: string, currency: Currency) => {
    clock += 1;
    return run(accountId, {
      type: "RecordBalance",
      data: {
        balance: { minor: BigInt(Math.round(Number(decimal) * 100)), currency },
        balanceType: "InterimAvailable",
        creditLines: [],
        referenceTime: minute(clock),
        source: "push",
        bankReference: null,
        now: minute(clock),
      },
    });
  };
  await open("acc-1", "GBP");
  await open("acc-2", "GBP");
  await open("acc-3", "EUR");
  await balance("acc-1", "-5.00", "GBP"); // minute 1: low-balance #1 and overdrawn #1
  await balance("acc-2", "50.00", "GBP"); // minute 2: low-balance #1
  await balance("acc-1", "120.00", "GBP"); // minute 3: overdrawn #1 ends (low-balance re-arms above 150.00)
  await balance("acc-3", "-1.00", "EUR"); // minute 4: low-balance #1 and overdrawn #1, in EUR
  await balance("acc-1", "200.00", "GBP"); // minute 5: low-balance #1 ends
  await balance("acc-1", "40.00", "GBP"); // minute 6: low-balance #2

  const db = new Kysely<QualificationTables>({ dialect: new PostgresDialect({ pool: database.pool }) });
  const schema = `${database.schema}_qualification`;
  await applyProjection(database.pool, store, qualificationProjection, schema, 1000);
  const faulty = await openTestEventStore(2);
  Object.assign(t.context, { db, schema, faulty });
  await sql`create schema ${sql.id(faultySchemaOf(t))}`.execute(db);
  await qualificationProjection.setUp(db, faultySchemaOf(t));
});

test.after.always(async (t) => {
  await t.context.faulty.dispose([faultySchemaOf(t)]);
  const { schema } = t.context.database;
  await t.context.dispose([`${schema}_qualification`, `${schema}_qualification_one_by_one`]);
});

const episodeOf = (view: QualificationView) =>
  `${view.accountId}/${view.ruleId}/${view.qualifiedBalance.currency}#${view.episode}`;

test("each qualification episode is one row, active until the rule re-arms, with the balance and time at both ends", async (t) => {
  const { db, schema } = t.context;
  const page = await listQualifications(db, schema, { limit: 100 });
  t.deepEqual(page.items.map(episodeOf), EPISODES);
  t.is(page.next, undefined);
  const [first, overdrawn, , euro, , second] = page.items;
  t.like(first, {
    status: "ended",
    ruleVersion: 1,
    qualifiedAt: minute(1),
    qualifiedBalance: { amount: "-5.00", currency: "GBP" },
    endedAt: minute(5),
    endedBalance: { amount: "200.00", currency: "GBP" },
  });
  t.like(overdrawn, { status: "ended", endedAt: minute(3), endedBalance: { amount: "120.00" } });
  t.like(euro, { status: "active", qualifiedBalance: { amount: "-1.00", currency: "EUR" }, endedAt: null });
  t.like(second, {
    status: "active",
    qualifiedAt: minute(6),
    qualifiedBalance: { amount: "40.00", currency: "GBP" },
    endedAt: null,
    endedBalance: null,
    endedPosition: null,
  });
  t.true(first !== undefined && first.endedPosition !== null && first.endedPosition > first.position);
});

test("filters by rule, status and account, alone and together", async (t) => {
  const { db, schema } = t.context;
  const episodes = async (filter: Omit<Parameters<typeof listQualifications>[2], "limit">) =>
    (await listQualifications(db, schema, { ...filter, limit: 100 })).items.map(episodeOf);
  t.deepEqual(await episodes({ ruleId: "overdrawn" }), ["acc-1/overdrawn/GBP#1", "acc-3/overdrawn/EUR#1"]);
  t.deepEqual(await episodes({ status: "ended" }), ["acc-1/low-balance/GBP#1", "acc-1/overdrawn/GBP#1"]);
  t.deepEqual(await episodes({ status: "active" }), [
    "acc-2/low-balance/GBP#1",
    "acc-3/low-balance/EUR#1",
    "acc-3/overdrawn/EUR#1",
    "acc-1/low-balance/GBP#2",
  ]);
  t.deepEqual(await episodes({ accountId: "acc-1" }), [
    "acc-1/low-balance/GBP#1",
    "acc-1/overdrawn/GBP#1",
    "acc-1/low-balance/GBP#2",
  ]);
  t.deepEqual(await episodes({ accountId: "acc-1", ruleId: "low-balance", status: "active" }), [
    "acc-1/low-balance/GBP#2",
  ]);
  t.deepEqual(await episodes({ ruleId: "savings-offer" }), []);
  t.deepEqual(await episodes({ accountId: "nobody" }), []);
});

test("pages follow the order episodes began: one at a time, an exact multiple, an empty page, a cursor past the end", async (t) => {
  const { db, schema } = t.context;
  const walk = async (limit: number, filter: { ruleId?: string } = {}) => {
    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const page = await listQualifications(db, schema, {
        ...filter,
        limit,
        ...(after === undefined ? {} : { after }),
      });
      pages.push(page.items.map(episodeOf));
      if (page.next !== undefined) t.is(page.items.at(-1)?.position, page.next);
      after = page.next;
    } while (after !== undefined);
    return pages;
  };
  t.deepEqual(
    await walk(1),
    EPISODES.map((episode) => [episode]),
  );
  t.deepEqual(await walk(3), [EPISODES.slice(0, 3), EPISODES.slice(3)]);
  t.deepEqual(await walk(6), [EPISODES]);
  t.deepEqual(await walk(4), [EPISODES.slice(0, 4), EPISODES.slice(4)]);
  t.deepEqual(await walk(2, { ruleId: "low-balance" }), [
    ["acc-1/low-balance/GBP#1", "acc-2/low-balance/GBP#1"],
    ["acc-3/low-balance/EUR#1", "acc-1/low-balance/GBP#2"],
  ]);
  t.deepEqual(await listQualifications(db, schema, { ruleId: "savings-offer", limit: 5 }), {
    items: [],
    next: undefined,
  });
  const all = await listQualifications(db, schema, { limit: 100 });
  const last = all.items.at(-1)?.position;
  t.deepEqual(
    await listQualifications(db, schema, { limit: 5, ...(last === undefined ? {} : { after: last }) }),
    {
      items: [],
      next: undefined,
    },
  );
  t.deepEqual(
    await listQualifications(db, schema, { limit: 5, after: "ffffffffffffffff-ffffffffffffffff" }),
    {
      items: [],
      next: undefined,
    },
  );
  await t.throwsAsync(listQualifications(db, schema, { limit: 0 }), { instanceOf: RangeError });
});

test("batches of 1 and of 1000 build the same rows", async (t) => {
  const { database, store, schema } = t.context;
  const oneByOne = `${database.schema}_qualification_one_by_one`;
  await applyProjection(database.pool, store, qualificationProjection, oneByOne, 1);
  const content = async (from: string) =>
    (
      await sql`select * from ${sql.table(`${from}.qualifications`)} order by qualified_position`.execute(
        t.context.db,
      )
    ).rows;
  const expected = await content(schema);
  t.is(expected.length, EPISODES.length);
  t.deepEqual(await content(oneByOne), expected);
});

const qualification = (type: "AccountQualified" | "AccountDisqualified", episode: number, minor: string) =>
  event(type, {
    ruleId: "low-balance",
    ruleVersion: 1,
    episode,
    balance: { minor, currency: "GBP" },
    at: minute(episode),
  });

/**
 * Appends `events` to a stream of their own in the faulty log and applies them, `batchSize` per
 * transaction as the runner would; the message of the error that stops them.
 */
async function failureOf(
  t: { context: Context },
  accountId: string,
  events: readonly EventToAppend[],
  batchSize: number,
): Promise<string | undefined> {
  const { faulty, db } = t.context;
  const streamId = `account-${accountId}`;
  for (const appended of events) await faulty.store.append(streamId, "any", [appended]);
  const recorded = await collect(faulty.store.readStream(streamId));
  try {
    for (let start = 0; start < recorded.length; start += batchSize) {
      const batch = recorded.slice(start, start + batchSize);
      await db
        .transaction()
        .execute((trx) =>
          applyEvents<QualificationTables>(trx, qualificationProjection, batch, faultySchemaOf(t)),
        );
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

for (const batchSize of [1, 1000]) {
  test(`an episode that ends before it began, ends twice or begins twice is an error naming it (batches of ${batchSize})`, async (t) => {
    t.is(
      await failureOf(t, `never-${batchSize}`, [qualification("AccountDisqualified", 1, "20000")], batchSize),
      `account never-${batchSize} rule low-balance (GBP) episode 1 ended but never qualified`,
    );
    t.regex(
      (await failureOf(
        t,
        `ended-twice-${batchSize}`,
        [
          qualification("AccountQualified", 1, "5000"),
          qualification("AccountDisqualified", 1, "20000"),
          qualification("AccountDisqualified", 1, "20000"),
        ],
        batchSize,
      )) ?? "",
      new RegExp(
        `^account ended-twice-${batchSize} rule low-balance \\(GBP\\) episode 1 ended twice, at \\S+ and \\S+$`,
      ),
    );
    t.regex(
      (await failureOf(
        t,
        `began-twice-${batchSize}`,
        [qualification("AccountQualified", 1, "5000"), qualification("AccountQualified", 1, "4000")],
        batchSize,
      )) ?? "",
      new RegExp(
        `^account began-twice-${batchSize} rule low-balance \\(GBP\\) episode 1 qualified twice, at \\S+ and \\S+$`,
      ),
    );
  });
}
