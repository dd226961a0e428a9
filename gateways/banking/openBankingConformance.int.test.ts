import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
// ajv validates JSON Schema draft-07 by default; see the schema file's $comment for its source.
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { BankingApiClient, BankingApiError, type BankingFailureReason } from "./BankingApiClient.ts";
import {
  createBankingApiSimulator,
  type BankingApiSimulator,
  type SimulatedBalance,
} from "./simulator/createBankingApiSimulator.ts";

/**
 * Conformance with UK Open Banking Account Information API v3.1.11 (`OBReadBalance1`,
 * `OBErrorResponse1`), against JSON Schemas written from the spec: (a) every answer of the
 * simulator validates; (b) the client accepts spec-valid answers (each balance type, 0–5
 * decimals, credit lines with or without Type and Amount, pagination, DateTime offsets), each of
 * them checked against the schema first, and maps each `OBErrorResponse1` case to its reason.
 */

const TOKEN = "conformance-token";
const schemaFile = new URL("./openBankingBalances.v3.1.11.schema.json", import.meta.url);
const ajv = new Ajv({ allErrors: true });
addFormats.default(ajv);
ajv.addSchema(JSON.parse(readFileSync(schemaFile, "utf8")) as object, "ob");
const isReadBalance = ajv.compile({ $ref: "ob#/definitions/OBReadBalance1" });
const isErrorResponse = ajv.compile({ $ref: "ob#/definitions/OBErrorResponse1" });

type Answer = { status: number; body: unknown; headers?: Record<string, string> };
type Context = {
  simulator: BankingApiSimulator;
  simulatorUrl: string;
  /** A bank that answers what a test scripts, per path and query. */
  scripted: Map<string, Answer>;
  scriptedUrl: string;
  servers: Server[];
};
const test = anyTest as TestFn<Context>;

/** An HTTP server for a Koa app's request handler. */
function serve(handle: (request: IncomingMessage, response: ServerResponse) => Promise<void>): Server {
  return createServer((request, response) => void handle(request, response));
}

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.beforeEach(async (t) => {
  t.context.simulator = createBankingApiSimulator({
    accessToken: TOKEN,
    knobs: { latencyMs: 0 },
    random: () => 0.99,
    unscripted: { amount: "250.00", currency: "GBP" },
  });
  const simulatorServer = serve(t.context.simulator.app.callback());
  t.context.simulatorUrl = await listen(simulatorServer);
  t.context.scripted = new Map();
  const scriptedServer = createServer((request, response) => {
    const answer = t.context.scripted.get(request.url ?? "") ?? { status: 404, body: notFound };
    response.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    response.end(JSON.stringify(answer.body));
  });
  t.context.scriptedUrl = await listen(scriptedServer);
  t.context.servers = [simulatorServer, scriptedServer];
});

test.afterEach.always((t) => {
  for (const server of t.context.servers) {
    server.closeAllConnections();
    server.close();
  }
});

const notFound = {
  Code: "404 Not Found",
  Message: "no such resource",
  Errors: [{ ErrorCode: "UK.OBIE.Resource.NotFound", Message: "no such resource" }],
};

function obBalance(
  type: string,
  amount: string,
  extra: Partial<SimulatedBalance> & Record<string, unknown> = {},
): SimulatedBalance & { AccountId: string } {
  return { AccountId: "acc-1", ...simulatedBalance(type, amount, extra) };
}

function simulatedBalance(
  type: string,
  amount: string,
  extra: Partial<SimulatedBalance> & Record<string, unknown> = {},
): SimulatedBalance {
  return {
    Amount: { Amount: amount.replace(/^-/, ""), Currency: "GBP" },
    CreditDebitIndicator: amount.startsWith("-") ? "Debit" : "Credit",
    Type: type,
    DateTime: "2026-11-24T09:00:00+00:00",
    ...extra,
  };
}

function page(
  t: ExecutionContext<Context>,
  balances: readonly unknown[],
  links: Record<string, string> = {},
  totalPages = 1,
) {
  return {
    Data: { Balance: balances },
    Links: { Self: `${t.context.scriptedUrl}/accounts/acc-1/balances`, ...links },
    Meta: { TotalPages: totalPages },
  };
}

/** Scripts one answer, after checking that it is what the spec allows. */
function answer(t: ExecutionContext<Context>, pathAndQuery: string, reply: Answer): void {
  const valid = reply.status === 200 ? isReadBalance(reply.body) : isErrorResponse(reply.body);
  const errors = reply.status === 200 ? isReadBalance.errors : isErrorResponse.errors;
  if (!valid) t.fail(`fixture ${pathAndQuery} breaks the spec: ${ajv.errorsText(errors)}`);
  t.context.scripted.set(pathAndQuery, reply);
}

function client(t: ExecutionContext<Context>, baseUrl = t.context.scriptedUrl): BankingApiClient {
  return new BankingApiClient({
    baseUrl,
    accessToken: TOKEN,
    attempts: 2,
    initialDelayMs: 5,
    maxDelayMs: 10,
  });
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
  });
  return { status: response.status, body: await response.json() };
}

// (a) The simulator.

test("the simulator's balances validate as OBReadBalance1: default, every type, currencies, credit lines, every page", async (t) => {
  const { simulator, simulatorUrl } = t.context;
  const plain = await get(`${simulatorUrl}/accounts/anyone/balances`);
  t.is(plain.status, 200);
  t.true(isReadBalance(plain.body), ajv.errorsText(isReadBalance.errors));
  t.regex(
    (plain.body as { Links: { Self: string } }).Links.Self,
    /^http:\/\/127\.0\.0\.1:\d+\/accounts\/anyone\/balances$/,
  );

  const types = [
    "ClosingAvailable",
    "ClosingBooked",
    "ClosingCleared",
    "Expected",
    "ForwardAvailable",
    "Information",
    "InterimAvailable",
    "InterimBooked",
    "InterimCleared",
    "OpeningAvailable",
    "OpeningBooked",
    "OpeningCleared",
    "PreviouslyClosedBooked",
  ];
  simulator.setBalances(
    "acc-1",
    types.map((type, index) => {
      return simulatedBalance(type, `${index}.12345`, {
        Amount: { Amount: `${index}.5`, Currency: index % 2 === 0 ? "GBP" : "EUR" },
        CreditLine: [
          { Included: true },
          { Included: false, Type: "Pre-Agreed", Amount: { Amount: "500.00", Currency: "GBP" } },
        ],
      });
    }),
  );
  simulator.knobs.pageSize = 4;
  let url: string | undefined = `${simulatorUrl}/accounts/acc-1/balances`;
  let pages = 0;
  while (url !== undefined) {
    const { status, body } = await get(url);
    t.is(status, 200);
    t.true(isReadBalance(body), `${url}: ${ajv.errorsText(isReadBalance.errors)}`);
    t.is((body as { Meta: { TotalPages: number } }).Meta.TotalPages, 4);
    url = (body as { Links: { Next?: string } }).Links.Next;
    pages += 1;
  }
  t.is(pages, 4);
});

test("every refusal of the simulator is an OBErrorResponse1: 400, 401, 403, 404, 405, 429, 500", async (t) => {
  const { simulator, simulatorUrl } = t.context;
  simulator.setFault("consent", { status: 403, errorCode: "UK.OBIE.Resource.InvalidConsentStatus" });
  simulator.setFault("busy", {
    status: 429,
    errorCode: "UK.Simulator.TooManyRequests",
    retryAfterSeconds: 5,
  });
  simulator.setFault("broken", { status: 500, errorCode: "UK.OBIE.UnexpectedError" });
  const cases: [string, RequestInit, number, string][] = [
    [`/accounts/${"x".repeat(41)}/balances`, {}, 400, "UK.OBIE.Field.Invalid"],
    [
      "/accounts/acc-1/balances",
      { headers: { authorization: "Bearer wrong" } },
      401,
      "UK.OBIE.Header.Invalid",
    ],
    ["/accounts/consent/balances", {}, 403, "UK.OBIE.Resource.InvalidConsentStatus"],
    ["/nowhere", {}, 404, "UK.OBIE.Resource.NotFound"],
    ["/accounts/acc-1/balances", { method: "POST" }, 405, "UK.Simulator.MethodNotAllowed"],
    ["/accounts/busy/balances", {}, 429, "UK.Simulator.TooManyRequests"],
    ["/accounts/broken/balances", {}, 500, "UK.OBIE.UnexpectedError"],
  ];
  const strict = createBankingApiSimulator({ accessToken: TOKEN, knobs: { latencyMs: 0 } });
  const strictServer = serve(strict.app.callback());
  t.context.servers.push(strictServer);
  const unknown = await get(`${await listen(strictServer)}/accounts/nobody/balances`);
  t.is(unknown.status, 404);
  t.true(isErrorResponse(unknown.body), ajv.errorsText(isErrorResponse.errors));
  for (const [path, init, status, code] of cases) {
    const { status: got, body } = await get(`${simulatorUrl}${path}`, init);
    t.is(got, status, path);
    t.true(isErrorResponse(body), `${path}: ${ajv.errorsText(isErrorResponse.errors)}`);
    t.is((body as { Errors: { ErrorCode: string }[] }).Errors[0]?.ErrorCode, code, path);
  }
});

// (b) The client against spec-valid answers.

test("each balance type: today's ones are read, forward, expected, informational and past ones never", async (t) => {
  const current = [
    "InterimAvailable",
    "InterimBooked",
    "InterimCleared",
    "ClosingAvailable",
    "ClosingBooked",
    "ClosingCleared",
    "OpeningAvailable",
    "OpeningBooked",
    "OpeningCleared",
  ];
  for (const type of current) {
    answer(t, "/accounts/acc-1/balances", { status: 200, body: page(t, [obBalance(type, "10.00")]) });
    t.like(
      await client(t).readBalance("acc-1", "GBP"),
      { balanceType: type, balance: { minor: 1000n } },
      type,
    );
  }
  for (const type of ["ForwardAvailable", "Expected", "Information", "PreviouslyClosedBooked"]) {
    answer(t, "/accounts/acc-1/balances", { status: 200, body: page(t, [obBalance(type, "10.00")]) });
    const error = await t.throwsAsync(client(t).readBalance("acc-1", "GBP"), { instanceOf: BankingApiError });
    t.is(error.code, "no_current_balance", type);
  }
});

test("0 to 5 decimals, debit and credit, and DateTime offsets", async (t) => {
  const cases: [string, string, bigint, string][] = [
    ["5", "2026-11-24T09:00:00Z", 500n, "2026-11-24T09:00:00.000Z"],
    ["5.1", "2026-11-24T10:00:00+01:00", 510n, "2026-11-24T09:00:00.000Z"],
    ["-5.12", "2026-11-24T04:00:00-05:00", -512n, "2026-11-24T09:00:00.000Z"],
    ["5.123", "2026-11-24T09:00:00.123+00:00", 512n, "2026-11-24T09:00:00.123Z"],
    ["-5.1234", "2026-11-24T14:30:00+05:30", -513n, "2026-11-24T09:00:00.000Z"],
    ["9999999999999.99999", "2026-11-24T09:00:00Z", 999999999999999n, "2026-11-24T09:00:00.000Z"],
  ];
  for (const [amount, dateTime, minor, utc] of cases) {
    answer(t, "/accounts/acc-1/balances", {
      status: 200,
      body: page(t, [obBalance("InterimAvailable", amount, { DateTime: dateTime })]),
    });
    const read = await client(t).readBalance("acc-1", "GBP");
    t.is(read.balance.minor, minor, amount);
    t.is(String(read.referenceTime), utc, dateTime);
  }
});

test("credit lines with and without Type and Amount are kept whole", async (t) => {
  answer(t, "/accounts/acc-1/balances", {
    status: 200,
    body: page(t, [
      obBalance("InterimAvailable", "10.00", {
        CreditLine: [
          { Included: true },
          { Included: false, Type: "Emergency" },
          { Included: true, Type: "Pre-Agreed", Amount: { Amount: "250.5", Currency: "GBP" } },
          { Included: false, Amount: { Amount: "100", Currency: "GBP" } },
        ],
      }),
    ]),
  });
  const read = await client(t).readBalance("acc-1", "GBP");
  t.deepEqual(read.creditLines, [
    { included: true, type: null, amount: null },
    { included: false, type: "Emergency", amount: null },
    { included: true, type: "Pre-Agreed", amount: { minor: 25_050n, currency: "GBP" } },
    { included: false, type: null, amount: { minor: 10_000n, currency: "GBP" } },
  ]);
});

test("pagination: absolute and relative Links.Next are followed on the same host; another host, a loop, too many pages or a missing page are refused", async (t) => {
  const base = `${t.context.scriptedUrl}/accounts/acc-1/balances`;
  answer(t, "/accounts/acc-1/balances", {
    status: 200,
    body: page(t, [obBalance("ForwardAvailable", "5000.00")], { Next: `${base}?page=2` }, 3),
  });
  // A relative Next is outside the spec (Links are `format: uri`), yet harmless: followed, unchecked.
  t.context.scripted.set("/accounts/acc-1/balances?page=2", {
    status: 200,
    body: page(
      t,
      [obBalance("ClosingBooked", "1.00")],
      { Self: `${base}?page=2`, Next: "/accounts/acc-1/balances?page=3" },
      3,
    ),
  });
  answer(t, "/accounts/acc-1/balances?page=3", {
    status: 200,
    body: page(t, [obBalance("InterimAvailable", "2.00")], { Self: `${base}?page=3` }, 3),
  });
  t.like(await client(t).readBalance("acc-1", "GBP"), {
    balanceType: "InterimAvailable",
    balance: { minor: 200n },
  });

  const refused = async (why: RegExp) => {
    const error = await t.throwsAsync(client(t).readBalance("acc-1", "GBP"), { instanceOf: BankingApiError });
    t.is(error.code, "invalid_answer");
    t.regex(error.message, why);
  };
  answer(t, "/accounts/acc-1/balances?page=2", {
    status: 200,
    body: page(
      t,
      [obBalance("ClosingBooked", "1.00")],
      { Next: "https://elsewhere.example/accounts/acc-1/balances?page=3" },
      3,
    ),
  });
  await refused(/points away from/);
  answer(t, "/accounts/acc-1/balances?page=2", {
    status: 200,
    body: page(t, [obBalance("ClosingBooked", "1.00")], { Next: base }, 3),
  });
  await refused(/goes back to a page read/);
  answer(t, "/accounts/acc-1/balances?page=2", {
    status: 200,
    body: page(t, [obBalance("ClosingBooked", "1.00")], {}, 3),
  });
  await refused(/Meta.TotalPages is 3 but page 2 has no Links.Next/);
  for (let number = 2; number <= 25; number += 1) {
    answer(t, `/accounts/acc-1/balances?page=${number}`, {
      status: 200,
      body: page(t, [obBalance("ClosingBooked", "1.00")], { Next: `${base}?page=${number + 1}` }, 30),
    });
  }
  await refused(/more than 20 pages/);
});

test("each OBErrorResponse1 refusal maps to its reason, keeping the bank's codes", async (t) => {
  const refusal = (status: number, code: string, path?: string) => ({
    status,
    body: {
      Code: `${status}`,
      Id: "err-1",
      Message: "refused",
      Errors: [{ ErrorCode: code, Message: "refused", ...(path === undefined ? {} : { Path: path }) }],
    },
  });
  const cases: [Answer, BankingFailureReason, boolean][] = [
    [refusal(400, "UK.OBIE.Field.Invalid", "AccountId"), "request_refused", false],
    [refusal(401, "UK.OBIE.Header.Invalid"), "unauthorized", false],
    [refusal(403, "UK.OBIE.Resource.InvalidConsentStatus"), "consent_expired", false],
    [refusal(403, "UK.OBIE.Reauthenticate"), "consent_expired", false],
    [refusal(403, "UK.OBIE.Resource.ConsentMismatch"), "unauthorized", false],
    [refusal(404, "UK.OBIE.Resource.NotFound"), "account_not_found", false],
    [refusal(405, "UK.Bank.MethodNotAllowed"), "request_refused", false],
    [{ ...refusal(429, "UK.Bank.TooManyRequests"), headers: { "retry-after": "3600" } }, "throttled", true],
    [refusal(500, "UK.OBIE.UnexpectedError"), "unavailable", true],
  ];
  for (const [reply, reason, retryable] of cases) {
    answer(t, "/accounts/acc-1/balances", reply);
    const error = await t.throwsAsync(client(t).readBalance("acc-1", "GBP"), { instanceOf: BankingApiError });
    const code = (reply.body as { Errors: { ErrorCode: string }[] }).Errors[0]?.ErrorCode ?? "";
    t.like(error, { code: reason, retryable }, `${reply.status} ${code}`);
    t.true(error.message.includes(code), `${error.message} keeps ${code}`);
  }
});

test("a redirect is not followed: the bearer token never leaves for another address", async (t) => {
  answer(t, "/accounts/acc-1/balances", {
    status: 200,
    body: page(t, [obBalance("InterimAvailable", "1.00")]),
  });
  t.context.scripted.set("/bank/accounts/acc-1/balances", {
    status: 307,
    body: {},
    headers: { location: `${t.context.scriptedUrl}/accounts/acc-1/balances` },
  });
  const error = await t.throwsAsync(client(t, `${t.context.scriptedUrl}/bank`).readBalance("acc-1", "GBP"), {
    instanceOf: BankingApiError,
  });
  t.like(error, { code: "invalid_answer", retryable: false });
  t.regex(error.message, /307/);
});
