import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import anyTest, { type TestFn } from "ava";
import fc from "fast-check";
import { pino } from "pino";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { openTestDatabase, type TestDatabase } from "../../test/postgresTestDatabase.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { loadRules } from "../rules/loadRules.ts";
import { loadTemplates } from "../templates/loadTemplates.ts";
import { ApiKeys, hashApiKey } from "./ApiKeys.ts";
import { createCommandApi } from "./createCommandApi.ts";
import { IdempotencyStore } from "./IdempotencyStore.ts";

const test = anyTest as TestFn<{
  database: TestDatabase;
  store: PostgresEventStore;
  server: Server;
  url: string;
}>;
const KEY = "fuzz-admin-key-0123456789";

test.before(async (t) => {
  const database = await openTestDatabase();
  await PostgresEventStore.migrate(database.pool, database.schema);
  const store = new PostgresEventStore(database.pool, { schema: database.schema });
  const logger = pino({ level: "silent" });
  const idempotency = new IdempotencyStore(database.pool, database.schema, logger);
  await idempotency.migrate();
  const app = createCommandApi({
    store,
    idempotency,
    rateLimiter: new RateLimiterMemory({ points: 1_000_000, duration: 1 }),
    rules: await loadRules(),
    templates: await loadTemplates(),
    apiKeys: new ApiKeys([{ name: "fuzz", sha256: hashApiKey(KEY), scopes: ["admin"] }]),
    logger,
    clock: () => Date.UTC(2026, 10, 24, 9),
    maxBodyBytes: 16 * 1024,
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  Object.assign(t.context, {
    database,
    store,
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
});

test.after.always(async (t) => {
  await new Promise((resolve) => t.context.server.close(resolve));
  await t.context.store.close();
  await t.context.database.dispose();
});

const deepJson = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const weirdStrings = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "💸",
    "1e309",
    "-0",
    "NaN",
    "+447911123456",
    "Europe/London",
    "GBP",
    "99.50",
  ),
);
const jsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record(
    {
      accountId: weirdStrings,
      customerId: weirdStrings,
      phone: weirdStrings,
      currency: weirdStrings,
      timeZone: weirdStrings,
      consents: fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.record({ service: fc.jsonValue(), marketing: fc.boolean() }),
      ),
      amount: fc.oneof(weirdStrings, fc.double(), fc.bigInt().map(String)),
      balanceType: weirdStrings,
      creditLineIncluded: fc.jsonValue({ maxDepth: 1 }),
      referenceTime: weirdStrings,
      granted: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
);
const rawBody = fc.oneof(
  jsonValue.map((value) => JSON.stringify(value)),
  fc.string(),
  fc.constantFrom(
    "{",
    '{"a":',
    "null",
    "[]",
    "true",
    deepJson(5_000),
    `"${"x".repeat(20_000)}"`,
    '{"amount": 1e999}',
  ),
);
const request = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("POST", "PUT") },
    { weight: 1, arbitrary: fc.constantFrom("GET", "DELETE", "PATCH") },
  ),
  path: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.constantFrom(
        "/accounts",
        "/accounts/fuzz-missing/contact",
        "/accounts/fuzz-missing/consents/service",
        "/accounts/fuzz-missing/consents/%00",
        "/accounts/fuzz-missing/balances",
        "/accounts/fuzz-missing/balance-refreshes",
        "/accounts/fuzz-missing/close",
        "/accounts/%E2%82%AC%%/balances",
        `/accounts/${"a".repeat(500)}/close`,
      ),
    },
    { weight: 1, arbitrary: fc.webPath() },
  ),
  body: fc.option(rawBody, { nil: undefined }),
  contentType: fc.oneof(
    { weight: 4, arbitrary: fc.constant("application/json") },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
      ),
    },
  ),
  authorization: fc.oneof(
    { weight: 4, arbitrary: fc.constant(`Bearer ${KEY}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        "Bearer",
        "Basic Zm9vOmJhcg==",
        `Bearer ${KEY}x`,
        "Bearer \u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff",
      ),
    },
  ),
  ifMatch: fc.option(fc.constantFrom('"0"', "-5", 'W/"x"', "99999999999999999999", "*", ""), {
    nil: undefined,
  }),
  idempotencyKey: fc.option(
    fc.constantFrom("short", "fuzz-key-0123456789", "x".repeat(300), "bad key with spaces"),
    { nil: undefined },
  ),
});

async function eventCount(database: TestDatabase): Promise<number> {
  const { rows } = await database.pool.query<{ count: string }>(
    `select count(*) from "${database.schema}".events`,
  );
  return Number(rows[0]?.count ?? 0);
}

test("1,000+ random and malformed requests: never a 5xx, never an append on an error answer", async (t) => {
  const { url, database } = t.context;
  const seen = new Map<number, number>();
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(request, async (input) => {
      const before = await eventCount(database);
      const headers: Record<string, string> = {};
      if (input.contentType !== "") headers["content-type"] = input.contentType;
      if (input.authorization !== "") headers.authorization = input.authorization;
      if (input.ifMatch !== undefined) headers["if-match"] = input.ifMatch;
      if (input.idempotencyKey !== undefined) headers["idempotency-key"] = input.idempotencyKey;
      let status: number;
      try {
        const response = await fetch(`${url}${input.path}`, {
          method: input.method,
          headers,
          ...(input.body === undefined || input.method === "GET" ? {} : { body: input.body }),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch (error) {
        // The client refusing to send (an invalid header value) is not the server's answer.
        if (error instanceof TypeError) return true;
        throw error;
      }
      checked += 1;
      seen.set(status, (seen.get(status) ?? 0) + 1);
      if (status >= 500) return false;
      return status < 400 || (await eventCount(database)) === before;
    }),
    { numRuns: 1_200 },
  );
  t.true(checked >= 1_000, `${checked} requests reached the server`);
  t.log(`answers by status: ${JSON.stringify(Object.fromEntries(seen))}`);
});
