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
  const first = await bank.readBalance("acc-1");
  t.deepEqual(first.balance, { minor: 4200n, currency: "GBP" });
  t.is(first.balanceType, "InterimAvailable");
  t.false(first.creditLineIncluded);
  t.is(String(first.referenceTime), "2026-11-24T09:00:00.000Z");
  t.regex(first.bankReference ?? "", /^[0-9a-f-]{36}$/);
  t.deepEqual((await bank.readBalance("acc-1")).balance, { minor: -525n, currency: "GBP" });
});

test("an unknown account or a refused token fails at once, without retries", async (t) => {
  const error = await t.throwsAsync(client(t).readBalance("nobody"), { instanceOf: BankingApiError });
  t.like(error, { code: "account_not_found", retryable: false });
  t.is(t.context.simulator.reads.get("nobody"), 1);
  const refused = await t.throwsAsync(client(t, { accessToken: "wrong" }).readBalance("nobody"), {
    instanceOf: BankingApiError,
  });
  t.like(refused, { code: "unauthorized", retryable: false });
});

test("5xx answers are retried with backoff; after the last attempt the read fails as retryable", async (t) => {
  t.context.simulator.script("acc-2", [{ amount: "10.00", currency: "EUR" }]);
  t.context.simulator.knobs.errorRate = 0.5;
  t.context.dice = [0.99, 0.1]; // attempt 1: no 429, then 500; attempt 2: no fault
  t.deepEqual((await client(t).readBalance("acc-2")).balance, { minor: 1000n, currency: "EUR" });
  t.is(t.context.simulator.reads.get("acc-2"), 2);
  t.context.simulator.knobs.errorRate = 1;
  const error = await t.throwsAsync(client(t, { attempts: 3 }).readBalance("acc-2"), {
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
  await client(t).readBalance("acc-3");
  const waited = Date.now() - startedAt;
  t.true(waited >= 950, `waited ${waited} ms for Retry-After: 1`);
  t.is(t.context.simulator.reads.get("acc-3"), 2);
});

test("each attempt times out; a slow bank fails the read quickly", async (t) => {
  t.context.simulator.script("acc-4", [{ amount: "1.00", currency: "GBP" }]);
  t.context.simulator.knobs.latencyMs = 1000;
  const startedAt = Date.now();
  const error = await t.throwsAsync(client(t, { timeoutMs: 100, attempts: 2 }).readBalance("acc-4"), {
    instanceOf: BankingApiError,
  });
  t.like(error, { code: "unavailable", retryable: true });
  t.true(Date.now() - startedAt < 800, "two attempts of 100 ms, not the bank's second");
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
  await t.throwsAsync(bank.readBalance("acc-5"));
  await t.throwsAsync(bank.readBalance("acc-5"));
  t.is(bank.circuit, "open");
  const fast = await t.throwsAsync(bank.readBalance("acc-5"), { instanceOf: BankingApiError });
  t.like(fast, { code: "circuit_open", retryable: true });
  t.is(t.context.simulator.reads.get("acc-5"), 2, "the open circuit did not call the bank");
  t.context.simulator.knobs.errorRate = 0;
  await sleep(250);
  t.deepEqual((await bank.readBalance("acc-5")).balance, { minor: 300n, currency: "GBP" });
  t.is(bank.circuit, "closed");
  t.deepEqual(states, ["open", "half-open", "closed"]);
});
