import pino from "pino";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import anyTest, { type TestFn } from "ava";
import { handleCommand } from "../commands/handleCommand.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import type { RefreshReason } from "../domain/account/AccountEvent.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../bin/loadConfig.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import { DeadLetters } from "../gateways/fanout/DeadLetters.ts";
import { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import { PendingRetries } from "../gateways/fanout/PendingRetries.ts";
import { runInProcessConsumer } from "../gateways/fanout/runInProcessConsumer.ts";
import type { RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import { openAccountCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { MemoryBalanceCache } from "../gateways/banking/BalanceCache.ts";
import { BankingApiClient } from "../gateways/banking/BankingApiClient.ts";
import { bankingGateway, type RefreshFailureReason } from "./bankingGateway.ts";
import { RefreshBudget } from "../gateways/banking/RefreshBudget.ts";
import {
  createBankingApiSimulator,
  type BankingApiSimulator,
} from "../gateways/banking/simulator/createBankingApiSimulator.ts";

const TOKEN = "bank-token";
const NOW = Date.UTC(2026, 10, 24, 9, 0, 0);

type Context = TestEventStore & {
  checkpoints: FanoutCheckpoints;
  deadLetters: DeadLetters;
  retries: PendingRetries;
  simulator: BankingApiSimulator;
  server: Server;
  budget: RefreshBudget;
  clockMs: number;
};
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.clockMs = NOW;
  let bankClock = NOW;
  t.context.simulator = createBankingApiSimulator({
    accessToken: TOKEN,
    knobs: { latencyMs: 0 },
    random: () => 0.99,
    clock: () => (bankClock += 60_000), // every read is newer than the last
  });
  t.context.server = t.context.simulator.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => t.context.server.once("listening", resolve));
  t.context.budget = new RefreshBudget(t.context.database.pool, `${t.context.database.schema}_banking`);
  await t.context.budget.migrate();
  const fanout = `${t.context.database.schema}_fanout`;
  t.context.checkpoints = new FanoutCheckpoints(t.context.database.pool, fanout);
  await t.context.checkpoints.migrate();
  t.context.deadLetters = new DeadLetters(t.context.database.pool, fanout);
  await t.context.deadLetters.migrate();
  t.context.retries = new PendingRetries(t.context.database.pool, fanout);
  await t.context.retries.migrate();
});

test.afterEach.always(async (t) => {
  t.context.server.closeAllConnections();
  t.context.server.close();
  await t.context.dispose([`${t.context.database.schema}_banking`, `${t.context.database.schema}_fanout`]);
});

function gateway(
  t: { context: Context },
  cacheMs = 0,
  onFailure: (reason: RefreshFailureReason) => void = () => undefined,
) {
  const port = (t.context.server.address() as AddressInfo).port;
  return bankingGateway({
    store: t.context.store,
    rules: fixedRules([]),
    bank: new BankingApiClient({
      baseUrl: `http://127.0.0.1:${port}`,
      accessToken: TOKEN,
      attempts: 2,
      initialDelayMs: 5,
      // A loaded machine (the whole suite at once) must not turn a slow answer into a time-out.
      timeoutMs: 10_000,
    }),
    budget: t.context.budget,
    cache: new MemoryBalanceCache(cacheMs, () => t.context.clockMs),
    clock: () => t.context.clockMs,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
    onFailure,
  });
}

async function run(t: { context: Context }, accountId: string, command: AccountCommand): Promise<void> {
  const outcome = await handleCommand(
    t.context.store,
    accountDecider(await loadRules()),
    `account-${accountId}`,
    command,
    {
      newEventId: randomUUID,
      metadata: { correlationId: "c", actor: "test" },
    },
  );
  if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
}

async function open(t: { context: Context }, accountId: string): Promise<void> {
  await run(t, accountId, openAccountCommand(accountId, NOW - 3_600_000));
}

/** Appends a refresh request and hands it to the gateway, as the fan-out would. */
async function refresh(
  t: { context: Context },
  accountId: string,
  reason: RefreshReason,
  handler = gateway(t),
): Promise<RecordedEvent> {
  await run(t, accountId, {
    type: "RequestBalanceRefresh",
    data: { reason, now: epochMsToInstant(t.context.clockMs) },
  });
  const events = await collect(t.context.store.readStream(`account-${accountId}`));
  const request = events.filter((event) => event.type === "BalanceRefreshRequested").at(-1);
  if (request === undefined) throw new Error("no request");
  await handler.handle(request);
  return request;
}

const typesOf = async (t: { context: Context }, accountId: string) =>
  (await collect(t.context.store.readStream(`account-${accountId}`))).map((event) => event.type);

test("a refresh reads the bank and records the balance as pulled, caused by the request", async (t) => {
  await open(t, "acc-1");
  t.context.simulator.script("acc-1", [{ amount: "-12.50", currency: "GBP" }]);
  const request = await refresh(t, "acc-1", "manual");
  const events = await collect(t.context.store.readStream("account-acc-1"));
  const observed = events.find((event) => event.type === "BalanceObserved");
  t.like(observed?.data, {
    balance: { minor: "-1250", currency: "GBP" },
    source: "pull",
    balanceType: "InterimAvailable",
  });
  t.is(observed?.metadata.causationId, request.id);
});

test("reads from the bank spend a budget of four a day, manual ones too (the customer is never present); a redelivered request does not spend it twice", async (t) => {
  await open(t, "acc-2");
  t.context.simulator.script("acc-2", [{ amount: "500.00", currency: "GBP" }]);
  const handler = gateway(t);
  const first = await refresh(t, "acc-2", "scheduled", handler);
  await handler.handle(first); // redelivered
  for (let index = 0; index < 3; index += 1) await refresh(t, "acc-2", "scheduled", handler);
  t.is(t.context.simulator.reads.get("acc-2"), 4, "four requests, one of them delivered twice: four reads");
  await refresh(t, "acc-2", "scheduled", handler);
  t.is(t.context.simulator.reads.get("acc-2"), 4, "the fifth unattended request did not reach the bank");
  const failed = (await collect(t.context.store.readStream("account-acc-2"))).filter(
    (event) => event.type === "BalanceRefreshFailed",
  );
  t.is(failed.length, 1);
  t.like(failed[0]?.data, {
    retryable: false,
    reason: "budget_exhausted: the budget of unattended reads in 24 hours is spent",
  });
  await refresh(t, "acc-2", "manual", handler);
  await refresh(t, "acc-2", "pre-send-recheck", handler);
  t.is(
    t.context.simulator.reads.get("acc-2"),
    4,
    "an operator's refresh is as unattended as the scheduler's",
  );
  t.context.clockMs += 86_400_000;
  await refresh(t, "acc-2", "manual", handler);
  t.is(t.context.simulator.reads.get("acc-2"), 5, "a new day, a new budget");
});

test("an account the bank does not know, or a bank that is down, is recorded as a failed refresh with whether to retry", async (t) => {
  await open(t, "acc-3");
  await refresh(t, "acc-3", "manual");
  t.context.simulator.script("acc-3", [{ amount: "1.00", currency: "GBP" }]);
  t.context.simulator.knobs.errorRate = 1;
  await refresh(t, "acc-3", "manual");
  const failed = (await collect(t.context.store.readStream("account-acc-3"))).filter(
    (event) => event.type === "BalanceRefreshFailed",
  );
  t.deepEqual(
    failed.map((event) => event.data.retryable),
    [false, true],
  );
  t.regex(JSON.stringify(failed[0]?.data.reason), /^"account_not_found/);
  t.regex(JSON.stringify(failed[1]?.data.reason), /^"unavailable/);
});

test("a balance read moments ago comes from the cache, not the bank, and spends no budget", async (t) => {
  await open(t, "acc-4");
  t.context.simulator.script("acc-4", [{ amount: "80.00", currency: "GBP" }]);
  const handler = gateway(t, 60_000);
  await refresh(t, "acc-4", "manual", handler);
  t.context.clockMs += 30_000;
  await refresh(t, "acc-4", "pre-send-recheck", handler);
  t.is(t.context.simulator.reads.get("acc-4"), 1);
  t.context.clockMs += 60_000;
  await refresh(t, "acc-4", "pre-send-recheck", handler);
  t.is(t.context.simulator.reads.get("acc-4"), 2, "expired: read again");
  t.context.clockMs += 60_000;
  await refresh(t, "acc-4", "manual", handler);
  t.context.clockMs += 60_000;
  await refresh(t, "acc-4", "manual", handler);
  t.is(t.context.simulator.reads.get("acc-4"), 4, "the cached read spent none of the four");
  t.context.clockMs += 60_000;
  await refresh(t, "acc-4", "manual", handler);
  t.is(t.context.simulator.reads.get("acc-4"), 4, "the fifth read of the day is refused");
  t.true((await typesOf(t, "acc-4")).includes("BalanceObserved"));
});

test("an expired consent is its own failure, not retried, with the bank's OB error code in the detail", async (t) => {
  await open(t, "acc-5");
  t.context.simulator.setFault("acc-5", {
    status: 403,
    errorCode: "UK.OBIE.Resource.InvalidConsentStatus",
    message: "The consent has expired",
  });
  const failures: RefreshFailureReason[] = [];
  await refresh(
    t,
    "acc-5",
    "scheduled",
    gateway(t, 0, (reason) => failures.push(reason)),
  );
  const failed = (await collect(t.context.store.readStream("account-acc-5"))).filter(
    (event) => event.type === "BalanceRefreshFailed",
  );
  t.is(failed.length, 1);
  t.like(failed[0]?.data, { retryable: false });
  t.regex(
    JSON.stringify(failed[0]?.data.reason),
    /^"consent_expired: 403 from the Banking API: UK\.OBIE\.Resource\.InvalidConsentStatus/,
  );
  t.deepEqual(failures, ["consent_expired"]);
  t.is(t.context.simulator.reads.get("acc-5"), 1);
});

test("a pull records the balance of today in the account's currency, with its type and credit lines", async (t) => {
  await open(t, "acc-6");
  t.context.simulator.setBalances("acc-6", [
    {
      Amount: { Amount: "5000.00", Currency: "GBP" },
      CreditDebitIndicator: "Credit",
      Type: "ForwardAvailable",
    },
    {
      Amount: { Amount: "42.00", Currency: "EUR" },
      CreditDebitIndicator: "Credit",
      Type: "InterimAvailable",
    },
    {
      Amount: { Amount: "12.005", Currency: "GBP" },
      CreditDebitIndicator: "Credit",
      Type: "InterimBooked",
      CreditLine: [{ Included: true, Type: "Pre-Agreed", Amount: { Amount: "100.00", Currency: "GBP" } }],
    },
  ]);
  await refresh(t, "acc-6", "manual");
  const observed = (await collect(t.context.store.readStream("account-acc-6"))).find(
    (event) => event.type === "BalanceObserved",
  );
  t.like(observed?.data, {
    balance: { minor: "1200", currency: "GBP" },
    balanceType: "InterimBooked",
    creditLineIncluded: true,
  });
});

test("a throttled account does not hold up another: its balance is observed while the first still waits", async (t) => {
  for (const id of ["acc-slow", "acc-fast"]) await open(t, id);
  t.context.simulator.setFault("acc-slow", {
    status: 429,
    errorCode: "UK.Simulator.TooManyRequests",
    retryAfterSeconds: 10, // far longer than acc-fast takes, even on a loaded machine
  });
  t.context.simulator.script("acc-slow", [{ amount: "70.00", currency: "GBP" }]);
  t.context.simulator.script("acc-fast", [{ amount: "80.00", currency: "GBP" }]);
  for (const id of ["acc-slow", "acc-fast"]) {
    await run(t, id, {
      type: "RequestBalanceRefresh",
      data: { reason: "manual", now: epochMsToInstant(NOW) },
    });
  }
  const controller = new AbortController();
  const startedAt = Date.now();
  const running = runInProcessConsumer({
    pool: t.context.database.pool,
    store: t.context.store,
    checkpoints: t.context.checkpoints,
    deadLetters: t.context.deadLetters,
    retries: t.context.retries,
    consumer: gateway(t),
    concurrency: loadConfig({}).banking.concurrency, // what `npm start` runs
    signal: controller.signal,
    logger: pino({ level: "silent" }),
  });
  try {
    const answered = async (id: string) =>
      (await typesOf(t, id)).filter((type) => type === "BalanceObserved" || type === "BalanceRefreshFailed");
    while ((await answered("acc-fast")).length === 0) {
      if (Date.now() - startedAt > 30_000) t.fail("acc-fast never answered");
      await sleep(20);
    }
    t.deepEqual(await answered("acc-fast"), ["BalanceObserved"]);
    // One at a time, acc-slow would have waited out its Retry-After and failed before acc-fast.
    const slowEvents = await collect(t.context.store.readStream("account-acc-slow"));
    t.deepEqual(
      await answered("acc-slow"),
      [],
      `acc-slow still waits for its Retry-After (${JSON.stringify(slowEvents.at(-1)?.data)})`,
    );
    t.context.simulator.setFault("acc-slow", undefined);
    while ((await answered("acc-slow")).length === 0) {
      if (Date.now() - startedAt > 30_000) t.fail("acc-slow never answered");
      await sleep(50);
    }
    t.deepEqual(await answered("acc-slow"), ["BalanceObserved"], "its retry after Retry-After succeeded");
  } finally {
    controller.abort();
    await running;
  }
});

test("the budget counts calls to the bank, not reads: a retried read spends one a call, and a call the budget has no room for is not made", async (t) => {
  await open(t, "acc-calls");
  t.context.simulator.setFault("acc-calls", {
    status: 503,
    errorCode: "UK.OBIE.UnexpectedError",
    message: "down",
  });
  const handler = gateway(t); // two attempts a read
  const first = await refresh(t, "acc-calls", "scheduled", handler);
  await refresh(t, "acc-calls", "scheduled", handler);
  t.is(
    t.context.simulator.reads.get("acc-calls"),
    4,
    "two reads of two calls each: the four calls of the day",
  );
  await handler.handle(first); // redelivered: it finds its own claims, and was answered already
  await refresh(t, "acc-calls", "manual", handler);
  t.is(t.context.simulator.reads.get("acc-calls"), 4, "no fifth call");
  const failed = (await collect(t.context.store.readStream("account-acc-calls"))).filter(
    (event) => event.type === "BalanceRefreshFailed",
  );
  t.deepEqual(
    failed.map((event) => (event.data as { reason: string }).reason.split(":")[0]),
    ["unavailable", "unavailable", "budget_exhausted"],
  );
});
