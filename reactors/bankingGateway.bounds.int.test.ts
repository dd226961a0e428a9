import pino from "pino";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { handleCommand } from "../commands/handleCommand.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import type { CurrentBalanceType } from "../domain/values/BalanceType.ts";
import { epochMsToInstant, type Instant } from "../domain/values/Instant.ts";
import { openAccountCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import { MemoryBalanceCache } from "../gateways/banking/BalanceCache.ts";
import type { BankBalance } from "../gateways/banking/BankingApiClient.ts";
import { bankingGateway } from "./bankingGateway.ts";

// A pulled balance meets the same bounds as a pushed one: what cannot count as the customer's
// balance is a failed refresh on record, not a BalanceObserved, and not a silent log line.
const test = anyTest as TestFn<TestEventStore>;

const NOW = Date.UTC(2026, 10, 24, 9);

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
});

test.afterEach.always(async (t) => {
  await t.context.dispose();
});

async function pull(t: { context: TestEventStore }, accountId: string, reading: BankBalance) {
  const rules = await loadRules();
  const run = async (command: AccountCommand) => {
    const outcome = await handleCommand(
      t.context.store,
      accountDecider(rules),
      `account-${accountId}`,
      command,
      {
        newEventId: randomUUID,
        metadata: { correlationId: "c", actor: "test" },
      },
    );
    if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
  };
  await run(openAccountCommand(accountId, NOW - 3_600_000));
  await run({ type: "RequestBalanceRefresh", data: { reason: "manual", now: epochMsToInstant(NOW) } });
  const [, request] = await collect(t.context.store.readStream(`account-${accountId}`));
  if (request === undefined) throw new Error("no request");
  await bankingGateway({
    store: t.context.store,
    rules: fixedRules(rules),
    bank: { readBalance: () => Promise.resolve(reading) },
    budget: { claim: () => Promise.resolve(true) },
    cache: new MemoryBalanceCache(0, () => NOW),
    clock: () => NOW,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).handle(request);
  return (await collect(t.context.store.readStream(`account-${accountId}`))).slice(2);
}

const reading = (overrides: Partial<BankBalance>): BankBalance => ({
  balance: { minor: 4200n, currency: "GBP" },
  balanceType: "InterimAvailable",
  creditLines: [],
  referenceTime: epochMsToInstant(NOW - 60_000),
  bankReference: "interaction-1",
  ...overrides,
});

test("a pulled balance in another currency, far in the future, or not of today is a failed refresh with the reason", async (t) => {
  const cases: [string, Partial<BankBalance>, string][] = [
    ["pull-eur", { balance: { minor: 4200n, currency: "EUR" } }, "currency_mismatch"],
    ["pull-future", { referenceTime: "9999-12-31T23:59:59.000Z" as Instant }, "reference_time_out_of_bounds"],
    ["pull-past", { referenceTime: "0000-01-01T00:00:00.000Z" as Instant }, "reference_time_out_of_bounds"],
    // The client never answers these (chooseCurrentBalance); a fake bank or a cache might.
    ["pull-forward", { balanceType: "ForwardAvailable" as CurrentBalanceType }, "balance_type_not_current"],
    ["pull-unknown", { balanceType: "Foo" as CurrentBalanceType }, "balance_type_not_current"],
  ];
  for (const [accountId, overrides, reason] of cases) {
    const events = await pull(t, accountId, reading(overrides));
    t.deepEqual(
      events.map((event) => event.type),
      ["BalanceRefreshFailed"],
      accountId,
    );
    const failure = events[0]?.data as { reason?: string; retryable?: boolean } | undefined;
    t.false(failure?.retryable, accountId);
    t.true(failure?.reason?.startsWith(`${reason}: `), `${accountId}: ${failure?.reason ?? "no reason"}`);
  }
  const good = await pull(t, "pull-good", reading({}));
  t.deepEqual(
    good.map((event) => event.type),
    ["BalanceObserved", "AccountQualified"],
  );
});
