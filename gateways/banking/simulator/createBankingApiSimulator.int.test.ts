import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import anyTest, { type TestFn } from "ava";
import { createBankingApiSimulator, type BankingApiSimulator } from "./createBankingApiSimulator.ts";

const TOKEN = "simulator-token";
const STARTED = Date.UTC(2026, 10, 24, 9, 0, 0);

type Context = { simulator: BankingApiSimulator; server: Server; url: string; clockMs: number };
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  t.context.clockMs = STARTED;
  t.context.simulator = createBankingApiSimulator({
    accessToken: TOKEN,
    knobs: { latencyMs: 0 },
    random: () => 0.99,
    clock: () => t.context.clockMs,
    unscripted: { amount: "250.00", currency: "GBP" },
    seed: {
      seeded: [
        { Amount: { Amount: "7.00", Currency: "EUR" }, CreditDebitIndicator: "Debit", Type: "ClosingBooked" },
      ],
    },
  });
  const app = t.context.simulator.app;
  t.context.server = createServer((request, response) => void app.callback()(request, response));
  t.context.server.listen(0, "127.0.0.1");
  await new Promise((resolve) => t.context.server.once("listening", resolve));
  t.context.url = `http://127.0.0.1:${(t.context.server.address() as AddressInfo).port}`;
});

test.afterEach.always((t) => {
  t.context.server.closeAllConnections();
  t.context.server.close();
});

async function call(
  t: { context: Context },
  method: string,
  path: string,
  body?: unknown,
  token = TOKEN,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${t.context.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : (JSON.parse(text) as unknown) };
}

type Read = { Data: { Balance: Record<string, unknown>[] } };

test("an account nobody set answers 250.00 GBP dated when the simulator started (a day ago at most), so a balance pushed since wins", async (t) => {
  t.context.clockMs = STARTED + 3_600_000;
  const { status, body } = await call(t, "GET", "/accounts/anyone/balances");
  t.is(status, 200);
  t.like((body as Read).Data.Balance[0], {
    AccountId: "anyone",
    Amount: { Amount: "250.00", Currency: "GBP" },
    Type: "InterimAvailable",
    DateTime: "2026-11-24T09:00:00.000Z",
  });
  t.context.clockMs = STARTED + 3 * 86_400_000; // running for days: a day old, never older
  t.like(((await call(t, "GET", "/accounts/anyone/balances")).body as Read).Data.Balance[0], {
    DateTime: "2026-11-26T09:00:00.000Z",
  });
});

test("a person sets an account's balances over HTTP: several types, currencies and credit lines", async (t) => {
  const balances = [
    {
      Amount: { Amount: "5000.00", Currency: "GBP" },
      CreditDebitIndicator: "Credit",
      Type: "ForwardAvailable",
    },
    {
      Amount: { Amount: "12.345", Currency: "GBP" },
      CreditDebitIndicator: "Debit",
      Type: "InterimBooked",
      DateTime: "2026-11-24T10:00:00+01:00",
      CreditLine: [{ Included: true, Type: "Pre-Agreed", Amount: { Amount: "100.00", Currency: "GBP" } }],
    },
  ];
  t.is((await call(t, "PUT", "/__admin/accounts/acc-1/balances", { Balance: balances })).status, 204);
  const { body } = await call(t, "GET", "/accounts/acc-1/balances");
  t.deepEqual((body as Read).Data.Balance, [
    { AccountId: "acc-1", ...balances[0], DateTime: "2026-11-24T09:00:00.000Z" },
    { AccountId: "acc-1", ...balances[1] },
  ]);
  t.is((await call(t, "PUT", "/__admin/accounts/acc-1/balances", [])).status, 400, "at least one balance");
  t.is((await call(t, "PUT", "/__admin/accounts/acc-1/balances", balances, "wrong")).status, 401);
  t.is((await call(t, "DELETE", "/__admin/accounts/acc-1")).status, 204);
  t.like(((await call(t, "GET", "/accounts/acc-1/balances")).body as Read).Data.Balance[0], {
    Amount: { Amount: "250.00" },
  });
});

test("a seeded account answers its seed; a standing refusal is set and cleared over HTTP", async (t) => {
  t.like(((await call(t, "GET", "/accounts/seeded/balances")).body as Read).Data.Balance[0], {
    Amount: { Amount: "7.00", Currency: "EUR" },
    Type: "ClosingBooked",
  });
  const fault = { status: 403, errorCode: "UK.OBIE.Resource.InvalidConsentStatus", message: "expired" };
  t.is((await call(t, "PUT", "/__admin/accounts/seeded/fault", fault)).status, 204);
  const refused = await call(t, "GET", "/accounts/seeded/balances");
  t.is(refused.status, 403);
  t.like(refused.body, {
    Errors: [{ ErrorCode: "UK.OBIE.Resource.InvalidConsentStatus", Message: "expired" }],
  });
  t.is((await call(t, "PUT", "/__admin/accounts/seeded/fault", { status: 200 })).status, 400);
  t.is((await call(t, "DELETE", "/__admin/accounts/seeded/fault")).status, 204);
  t.is((await call(t, "GET", "/accounts/seeded/balances")).status, 200);
});

test("the knobs are set over HTTP too: a page size makes the client's pagination visible", async (t) => {
  t.is((await call(t, "PUT", "/__admin/knobs", { pageSize: 1, latencyMs: 0 })).status, 204);
  t.is(t.context.simulator.knobs.pageSize, 1);
  t.is((await call(t, "PUT", "/__admin/knobs", { pageSize: -1 })).status, 400);
  t.is((await call(t, "PUT", "/__admin/knobs", { colour: 1 })).status, 400);
  t.is(t.context.simulator.knobs.pageSize, 1, "a refused change changes nothing");
  const balances = ["1.00", "2.00"].map((amount) => ({
    Amount: { Amount: amount, Currency: "GBP" },
    CreditDebitIndicator: "Credit",
    Type: "InterimAvailable",
  }));
  await call(t, "PUT", "/__admin/accounts/acc-2/balances", balances);
  const first = await call(t, "GET", "/accounts/acc-2/balances");
  t.like(first.body, {
    Meta: { TotalPages: 2 },
    Links: { Next: `${t.context.url}/accounts/acc-2/balances?page=2` },
  });
});
