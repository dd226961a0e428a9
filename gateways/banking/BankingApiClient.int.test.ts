import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { BankingApiClient, BankingApiError, type BankingApiClientOptions } from "./BankingApiClient.ts";
import {
  createBankingApiSimulator,
  type BankingApiSimulator,
} from "./simulator/createBankingApiSimulator.ts";

const TOKEN = "bank-access-token";

type Context = { simulator: BankingApiSimulator; server: Server; baseUrl: string; dice: number[] };
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  t.context.dice = [];
  // Scripted dice where a test needs them, else "no fault".
  t.context.simulator = createBankingApiSimulator({
    accessToken: TOKEN,
    knobs: { latencyMs: 0 },
    random: () => t.context.dice.shift() ?? 0.99,
    clock: () => Date.UTC(2026, 10, 24, 9, 0, 0),
  });
  t.context.server = t.context.simulator.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => t.context.server.once("listening", resolve));
  t.context.baseUrl = `http://127.0.0.1:${(t.context.server.address() as AddressInfo).port}`;
});

test.afterEach.always((t) => {
  t.context.server.closeAllConnections();
  t.context.server.close();
});

function client(t: { context: Context }, options: Partial<BankingApiClientOptions> = {}): BankingApiClient {
  return new BankingApiClient({
    baseUrl: t.context.baseUrl,
    accessToken: TOKEN,
    initialDelayMs: 10,
    maxDelayMs: 50,
    ...options,
  });
}

test("reads OBReadBalance1: credit and debit become signed minor units, with type, time, credit line and the bank's reference", async (t) => {
  t.context.simulator.script("acc-1", [
    { amount: "42.00", currency: "GBP", creditLine: "500.00" },
    { amount: "-5.25", currency: "GBP" },
  ]);
  const bank = client(t);
  const first = await bank.readBalance("acc-1", "GBP");
  t.deepEqual(first.balance, { minor: 4200n, currency: "GBP" });
  t.is(first.balanceType, "InterimAvailable");
  t.deepEqual(first.creditLines, [
    { included: false, type: "Pre-Agreed", amount: { minor: 50_000n, currency: "GBP" } },
  ]);
  t.is(String(first.referenceTime), "2026-11-24T09:00:00.000Z");
  t.regex(first.bankReference ?? "", /^[0-9a-f-]{36}$/);
  t.deepEqual((await bank.readBalance("acc-1", "GBP")).balance, { minor: -525n, currency: "GBP" });
});

test("an unknown account or a refused token fails at once, without retries", async (t) => {
  const error = await t.throwsAsync(client(t).readBalance("nobody", "GBP"), { instanceOf: BankingApiError });
  t.like(error, { code: "account_not_found", retryable: false });
  t.is(t.context.simulator.reads.get("nobody"), 1);
  const refused = await t.throwsAsync(client(t, { accessToken: "wrong" }).readBalance("nobody", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(refused, { code: "unauthorized", retryable: false });
});

test("5xx answers are retried with backoff; after the last attempt the read fails as retryable", async (t) => {
  t.context.simulator.script("acc-2", [{ amount: "10.00", currency: "EUR" }]);
  t.context.simulator.knobs.errorRate = 0.5;
  t.context.dice = [0.99, 0.1]; // attempt 1: no 429, then 500; attempt 2: no fault
  t.deepEqual((await client(t).readBalance("acc-2", "EUR")).balance, { minor: 1000n, currency: "EUR" });
  t.is(t.context.simulator.reads.get("acc-2"), 2);
  t.context.simulator.knobs.errorRate = 1;
  const error = await t.throwsAsync(client(t, { attempts: 3 }).readBalance("acc-2", "EUR"), {
    instanceOf: BankingApiError,
  });
  t.like(error, { code: "unavailable", retryable: true });
  t.is(t.context.simulator.reads.get("acc-2"), 5, "three more attempts");
});

test("a 429 is retried after the Retry-After the bank names", async (t) => {
  t.context.simulator.script("acc-3", [{ amount: "1.00", currency: "GBP" }]);
  t.context.simulator.knobs.tooManyRequestsRate = 0.5;
  t.context.simulator.knobs.retryAfterSeconds = 1;
  t.context.dice = [0.1]; // attempt 1: 429; then no fault
  const startedAt = Date.now();
  await client(t).readBalance("acc-3", "GBP");
  const waited = Date.now() - startedAt;
  t.true(waited >= 950, `waited ${waited} ms for Retry-After: 1`);
  t.is(t.context.simulator.reads.get("acc-3"), 2);
});

test("each attempt times out; a slow bank fails the read quickly", async (t) => {
  t.context.simulator.script("acc-4", [{ amount: "1.00", currency: "GBP" }]);
  t.context.simulator.knobs.latencyMs = 1000;
  const startedAt = Date.now();
  const error = await t.throwsAsync(client(t, { timeoutMs: 100, attempts: 2 }).readBalance("acc-4", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(error, { code: "unavailable", retryable: true });
  t.true(Date.now() - startedAt < 800, "two attempts of 100 ms, not the bank's second");
});

test("a bank that hangs is a failing bank: its time-outs are retried and open the circuit", async (t) => {
  t.context.simulator.script("acc-4b", [{ amount: "1.00", currency: "GBP" }]);
  t.context.simulator.knobs.latencyMs = 1000;
  const bank = client(t, { timeoutMs: 100, attempts: 2, breakAfter: 2, initialDelayMs: 10 });
  for (let read = 0; read < 2; read += 1) {
    t.like(await t.throwsAsync(bank.readBalance("acc-4b", "GBP")), { code: "unavailable", retryable: true });
  }
  t.is(t.context.simulator.reads.get("acc-4b"), 4, "each read tried twice");
  t.is(bank.circuit, "open");
  t.like(await t.throwsAsync(bank.readBalance("acc-4b", "GBP")), { code: "circuit_open" });
});

test("reads that keep failing open the circuit: it fails fast, then a trial read closes it again", async (t) => {
  t.context.simulator.script("acc-5", [{ amount: "3.00", currency: "GBP" }]);
  t.context.simulator.knobs.errorRate = 1;
  const states: string[] = [];
  const bank = client(t, {
    attempts: 1,
    breakAfter: 2,
    halfOpenAfterMs: 200,
    onCircuitChange: (state) => states.push(state),
  });
  await t.throwsAsync(bank.readBalance("acc-5", "GBP"));
  await t.throwsAsync(bank.readBalance("acc-5", "GBP"));
  t.is(bank.circuit, "open");
  const fast = await t.throwsAsync(bank.readBalance("acc-5", "GBP"), { instanceOf: BankingApiError });
  t.like(fast, { code: "circuit_open", retryable: true });
  t.is(t.context.simulator.reads.get("acc-5"), 2, "the open circuit did not call the bank");
  t.context.simulator.knobs.errorRate = 0;
  await sleep(250);
  t.deepEqual((await bank.readBalance("acc-5", "GBP")).balance, { minor: 300n, currency: "GBP" });
  t.is(bank.circuit, "closed");
  t.deepEqual(states, ["open", "half-open", "closed"]);
});

const balance = (type: string, amount: string, currency = "GBP", extra: Record<string, unknown> = {}) => ({
  Amount: { Amount: amount.replace(/^-/, ""), Currency: currency },
  CreditDebitIndicator: amount.startsWith("-") ? "Debit" : "Credit",
  Type: type,
  DateTime: "2026-11-24T09:00:00+00:00",
  ...extra,
});

test("today's balance in the account's currency counts: never a forward one, never the first of another currency", async (t) => {
  t.context.simulator.setBalances("acc-6", [
    balance("ForwardAvailable", "5000.00"),
    balance("InterimAvailable", "99.00", "EUR"),
    balance("InterimBooked", "12.00"),
  ]);
  const read = await client(t).readBalance("acc-6", "GBP");
  t.deepEqual(read.balance, { minor: 1200n, currency: "GBP" });
  t.is(read.balanceType, "InterimBooked");
  t.deepEqual((await client(t).readBalance("acc-6", "EUR")).balance, { minor: 9900n, currency: "EUR" });
  t.context.simulator.setBalances("acc-7", [
    balance("ForwardAvailable", "5000.00"),
    balance("Expected", "1.00"),
  ]);
  const none = await t.throwsAsync(client(t).readBalance("acc-7", "GBP"), { instanceOf: BankingApiError });
  t.like(none, { code: "no_current_balance", retryable: false });
  t.is(t.context.simulator.reads.get("acc-7"), 1, "not retried");
});

test("amounts with up to 5 decimals are floored to the minor unit; offsets become UTC", async (t) => {
  t.context.simulator.setBalances("acc-8", [
    balance("InterimAvailable", "-12.345", "GBP", { DateTime: "2026-11-24T10:00:00.5+01:00" }),
  ]);
  const read = await client(t).readBalance("acc-8", "GBP");
  t.deepEqual(read.balance, { minor: -1235n, currency: "GBP" });
  t.is(String(read.referenceTime), "2026-11-24T09:00:00.500Z");
});

test("a DateTime without a zone is an invalid answer, not a time in the process's zone", async (t) => {
  t.context.simulator.setBalances("acc-9", [
    balance("InterimAvailable", "10.00", "GBP", { DateTime: "2026-11-24T09:00:00" }),
  ]);
  const error = await t.throwsAsync(client(t).readBalance("acc-9", "GBP"), { instanceOf: BankingApiError });
  t.like(error, { code: "invalid_answer", retryable: false });
  t.regex(error.message, /DateTime "2026-11-24T09:00:00" is not an ISO 8601 date-time with a zone/);
});

test("every page is read through Links.Next: the balance that counts may be on the last", async (t) => {
  t.context.simulator.knobs.pageSize = 1;
  t.context.simulator.setBalances("acc-10", [
    balance("ClosingBooked", "1.00"),
    balance("ForwardAvailable", "2.00"),
    balance("InterimAvailable", "3.00"),
  ]);
  const read = await client(t).readBalance("acc-10", "GBP");
  t.deepEqual(read.balance, { minor: 300n, currency: "GBP" });
  t.is(t.context.simulator.reads.get("acc-10"), 3);
});

test("an expired consent, a refused field and a server error keep the bank's OB error codes", async (t) => {
  t.context.simulator.setFault("acc-11", {
    status: 403,
    errorCode: "UK.OBIE.Resource.InvalidConsentStatus",
    message: "consent expired",
  });
  const expired = await t.throwsAsync(client(t).readBalance("acc-11", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(expired, { code: "consent_expired", retryable: false });
  t.deepEqual(expired.obErrorCodes, ["UK.OBIE.Resource.InvalidConsentStatus"]);
  t.regex(expired.message, /UK\.OBIE\.Resource\.InvalidConsentStatus/);
  t.is(t.context.simulator.reads.get("acc-11"), 1, "not retried");

  const tooLong = "a".repeat(41);
  const refused = await t.throwsAsync(client(t).readBalance(tooLong, "GBP"), { instanceOf: BankingApiError });
  t.like(refused, { code: "request_refused", retryable: false });
  t.regex(refused.message, /400 from the Banking API: UK\.OBIE\.Field\.Invalid at AccountId/);

  t.context.simulator.setFault("acc-12", { status: 500, errorCode: "UK.OBIE.UnexpectedError" });
  const down = await t.throwsAsync(client(t, { attempts: 2 }).readBalance("acc-12", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(down, { code: "unavailable", retryable: true });
  t.regex(down.message, /UK\.OBIE\.UnexpectedError/);
});

test("a Retry-After over the cap, or past the refresh's deadline, fails at once as throttled (retryable)", async (t) => {
  t.context.simulator.setFault("acc-13", {
    status: 429,
    errorCode: "UK.Simulator.TooManyRequests",
    retryAfterSeconds: 3600,
  });
  let startedAt = Date.now();
  const capped = await t.throwsAsync(client(t).readBalance("acc-13", "GBP"), { instanceOf: BankingApiError });
  t.like(capped, { code: "throttled", retryable: true });
  t.regex(capped.message, /Retry-After 3600 s is over the 60 s cap/);
  t.true(Date.now() - startedAt < 1000, "not an hour, not even a minute");

  t.context.simulator.setFault("acc-13", {
    status: 429,
    errorCode: "UK.Simulator.TooManyRequests",
    retryAfterSeconds: 2,
  });
  startedAt = Date.now();
  const late = await t.throwsAsync(client(t, { deadlineMs: 1000 }).readBalance("acc-13", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(late, { code: "throttled", retryable: true });
  t.regex(late.message, /deadline/);
  t.true(Date.now() - startedAt < 1000);
});

test("the bank's limit: reads at once are spaced to it, and one whose turn would pass its deadline fails as throttled", async (t) => {
  for (let n = 0; n < 8; n += 1)
    t.context.simulator.script(`paced-${n}`, [{ amount: "1.00", currency: "GBP" }]);
  const paced = client(t, { attemptsPerSecond: 20 });
  const startedAt = performance.now();
  const finished = await Promise.all(
    Array.from({ length: 8 }, async (_, n) => {
      await paced.readBalance(`paced-${n}`, "GBP");
      return performance.now() - startedAt;
    }),
  );
  // Never faster than the limit (a timer may fire late, never a whole interval early).
  t.true(
    Math.max(...finished) >= 7 * 50 - 5,
    `8 reads at 20 a second took ${Math.round(Math.max(...finished))} ms`,
  );

  const slow = client(t, { attemptsPerSecond: 2, deadlineMs: 300 });
  const outcomes = await Promise.allSettled([0, 1, 2].map((n) => slow.readBalance(`paced-${n}`, "GBP")));
  t.is(outcomes[0]?.status, "fulfilled");
  for (const outcome of outcomes.slice(1)) {
    t.is(outcome.status, "rejected");
    const error = outcome.status === "rejected" ? (outcome.reason as BankingApiError) : undefined;
    t.true(error instanceof BankingApiError);
    t.is(error?.code, "throttled");
    t.regex(error?.message ?? "", /2 calls a second to the bank/);
  }
});

test.serial(
  "each call sends an x-fapi-interaction-id of its own, which the bank plays back and the read keeps",
  async (t) => {
    t.context.simulator.script("acc-9", [{ amount: "1.00", currency: "GBP" }]);
    const sent: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      sent.push(new Headers(init?.headers).get("x-fapi-interaction-id") ?? "");
      return realFetch(input, init);
    };
    try {
      const bank = client(t);
      const first = await bank.readBalance("acc-9", "GBP");
      await bank.readBalance("acc-9", "GBP");
      t.is(sent.length, 2);
      t.regex(sent[0] ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      t.not(sent[0], sent[1]);
      t.is(first.bankReference, sent[0] ?? null);
    } finally {
      globalThis.fetch = realFetch;
    }
  },
);

test("the bank's limit holds for every call: a 429 holds back the other accounts' calls for its Retry-After", async (t) => {
  t.context.simulator.script("calm-1", [{ amount: "2.00", currency: "GBP" }]);
  t.context.simulator.setFault("hot-1", {
    status: 429,
    errorCode: "UK.OBIE.Rules.ResourceLimit",
    message: "slow down",
    retryAfterSeconds: 1,
  });
  let throttledAt: number | undefined;
  const bank = client(t, {
    attemptsPerSecond: 50,
    attempts: 2,
    onAttempt: () => (throttledAt ??= performance.now()),
  });
  const hot = bank.readBalance("hot-1", "GBP").catch((error: unknown) => error);
  while (throttledAt === undefined) await sleep(5);
  await bank.readBalance("calm-1", "GBP");
  const waited = performance.now() - throttledAt;
  t.true(waited >= 900, `the other account's call waited for the Retry-After (${Math.round(waited)} ms)`);
  t.like(await hot, { code: "throttled" });
});

test("further pages of a paged answer wait their turn under the bank's limit like any call", async (t) => {
  t.context.simulator.knobs.pageSize = 1;
  t.context.simulator.setBalances("acc-11", [
    balance("ClosingBooked", "1.00"),
    balance("ForwardAvailable", "2.00"),
    balance("InterimAvailable", "3.00"),
  ]);
  const startedAt = performance.now();
  const read = await client(t, { attemptsPerSecond: 10 }).readBalance("acc-11", "GBP");
  t.deepEqual(read.balance, { minor: 300n, currency: "GBP" });
  const took = performance.now() - startedAt;
  t.true(took >= 2 * 100 - 5, `3 pages at 10 calls a second took ${Math.round(took)} ms`);
});
