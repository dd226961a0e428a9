import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import type { AccountCommand } from "../../domain/account/AccountCommand.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";
import { handleCommand } from "../../commands/handleCommand.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { findAccount, maskPhone } from "./accountQueries.ts";
import type { AccountsTables } from "./AccountsTable.ts";
import { accountsProjection } from "./accountsProjection.ts";

const test = anyTest as TestFn<TestEventStore & { db: Kysely<AccountsTables> }>;

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.db = new Kysely<AccountsTables>({
    dialect: new PostgresDialect({ pool: t.context.database.pool }),
  });
});

test.after.always(async (t) => {
  const { schema } = t.context.database;
  await t.context.dispose([`${schema}_accounts_1`, `${schema}_accounts_1000`]);
});

const now = epochMsToInstant(Date.UTC(2026, 10, 24, 9));
const balance = (decimal: string, minute: number): AccountCommand => ({
  type: "RecordBalance",
  data: {
    balance: { minor: BigInt(Math.round(Number(decimal) * 100)), currency: "GBP" },
    balanceType: "InterimAvailable",
    creditLines: [],
    referenceTime: epochMsToInstant(Date.UTC(2026, 10, 24, 8, minute)),
    source: "push",
    bankReference: null,
    now,
  },
});

test("the accounts read model follows contact, consents, the latest balance and current qualifications", async (t) => {
  const { store, database, db } = t.context;
  const decider = accountDecider(await loadRules());
  const options = { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } };
  const run = (command: AccountCommand) => handleCommand(store, decider, "account-acc-1", command, options);
  await run({
    type: "OpenAccount",
    data: {
      accountId: "acc-1",
      customerId: "cust-1",
      phone: "+447911123456" as PhoneNumber,
      currency: "GBP",
      timeZone: "Europe/London" as TimeZone,
      consents: { service: true, marketing: false },
      now,
    },
  });
  await run(balance("-5.00", 1));
  await run(balance("120.00", 2));
  await run({
    type: "ChangeConsent",
    data: { messageClass: "marketing", granted: true, source: "api", now },
  });
  const last = await run(balance("99.00", 0)); // older than the last: stale, ignored
  t.like(last, { outcome: "accepted" });
  const runOnSecond = (command: AccountCommand) =>
    handleCommand(store, decider, "account-acc-2", command, options);
  await runOnSecond({
    type: "OpenAccount",
    data: {
      accountId: "acc-2",
      customerId: "cust-2",
      phone: "+447911123457" as PhoneNumber,
      currency: "GBP",
      timeZone: "Europe/London" as TimeZone,
      consents: { service: true, marketing: true },
      now,
    },
  });
  const later = epochMsToInstant(Date.UTC(2026, 10, 24, 10));
  await runOnSecond({
    type: "ApplySmsKeyword",
    data: { keyword: "stop", provider: "primary", messageId: "SM-stop", now: later },
  });
  await runOnSecond({
    type: "ChangeConsent",
    data: { messageClass: "marketing", granted: true, source: "api", now: later },
  });

  for (const batchSize of [1, 1000]) {
    const schema = `${database.schema}_accounts_${batchSize}`;
    await applyProjection(database.pool, store, accountsProjection, schema, batchSize);
  }
  const { rows: one } = await database.pool.query(
    `select * from "${database.schema}_accounts_1".accounts order by account_id`,
  );
  const { rows: thousand } = await database.pool.query(
    `select * from "${database.schema}_accounts_1000".accounts order by account_id`,
  );
  t.deepEqual(one, thousand, "one event per batch or all in one batch: the same rows");

  const view = await findAccount(db, `${database.schema}_accounts_1`, "acc-1", { showPhone: false });
  t.like(view, {
    accountId: "acc-1",
    phone: maskPhone("+447911123456"),
    consents: { service: true, marketing: true },
    balance: { amount: "120.00", currency: "GBP" },
    status: "open",
    // -5.00 qualified low-balance and overdrawn; 120.00 re-armed overdrawn only (low-balance needs > 150.00).
    qualifications: { "low-balance/GBP": 1 },
    consentGrounds: {
      service: { source: "opened", messageId: null, at: now },
      marketing: { source: "api", messageId: null, at: now },
    },
  });
  t.like(await findAccount(db, `${database.schema}_accounts_1`, "acc-2", { showPhone: false }), {
    consents: { service: false, marketing: true },
    consentGrounds: {
      service: { source: "sms-keyword", messageId: "SM-stop", at: later },
      marketing: { source: "api", messageId: null, at: later },
    },
  });
  t.is(
    (await findAccount(db, `${database.schema}_accounts_1`, "acc-1", { showPhone: true }))?.phone,
    "+447911123456",
  );
  t.is(await findAccount(db, `${database.schema}_accounts_1`, "nobody", { showPhone: true }), undefined);
});

test.serial(
  "a failed balance refresh shows its reason (consent_expired) and detail until a pull succeeds",
  async (t) => {
    const { store, database, db } = t.context;
    const decider = accountDecider(await loadRules());
    const options = { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } };
    const run = (command: AccountCommand) =>
      handleCommand(store, decider, "account-acc-refresh", command, options);
    const schema = `${database.schema}_accounts_failures`;
    const view = async () => {
      await applyProjection(database.pool, store, accountsProjection, schema, 100);
      return findAccount(db, schema, "acc-refresh", { showPhone: false });
    };
    await run({
      type: "OpenAccount",
      data: {
        accountId: "acc-refresh",
        customerId: "cust-refresh",
        phone: "+447911123456" as PhoneNumber,
        currency: "GBP",
        timeZone: "Europe/London" as TimeZone,
        consents: { service: true, marketing: false },
        now,
      },
    });
    t.like(await view(), { lastRefreshFailure: null });
    await run({
      type: "RecordBalanceRefreshFailure",
      data: {
        reason:
          "consent_expired: 403 from the Banking API: UK.OBIE.Resource.InvalidConsentStatus: expired: the customer must renew the consent",
        retryable: false,
        now,
      },
    });
    t.like(await view(), {
      lastRefreshFailure: {
        reason: "consent_expired",
        detail:
          "403 from the Banking API: UK.OBIE.Resource.InvalidConsentStatus: expired: the customer must renew the consent",
        retryable: false,
        failedAt: now,
      },
    });
    await run(balance("50.00", 5)); // a push: the bank still cannot be read
    t.like(await view(), { lastRefreshFailure: { reason: "consent_expired" } });
    await run({
      ...balance("60.00", 6),
      data: { ...balance("60.00", 6).data, source: "pull" },
    } as AccountCommand);
    t.like(await view(), { lastRefreshFailure: null });
    await database.pool.query(`drop schema if exists "${schema}" cascade`);
  },
);
