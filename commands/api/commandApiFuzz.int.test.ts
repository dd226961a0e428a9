import anyTest, { type TestFn } from "ava";
import type { TestDatabase } from "../../test/postgresTestDatabase.ts";
import { startTestCommandApi, type TestCommandApi } from "../../test/startTestCommandApi.ts";
import fc from "fast-check";

const test = anyTest as TestFn<TestCommandApi>;
const KEY = "fuzz-admin-key-0123456789";

test.before(async (t) => {
  Object.assign(
    t.context,
    await startTestCommandApi([{ name: "fuzz", key: KEY, scopes: ["admin"] }], { maxBodyBytes: 16384 }),
  );
});

test.after.always(async (t) => {
  await t.context.close();
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
// A rule set's body: the document's shape with anything in its places.
const rulesetBody = fc.record(
  {
    document: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          version: fc.oneof(fc.constant(1), fc.jsonValue({ maxDepth: 1 })),
          rules: fc.array(
            fc.record(
              {
                id: weirdStrings,
                version: fc.oneof(fc.integer(), fc.double(), weirdStrings),
                kind: fc.constantFrom("below", "sustained-at-or-above", "", "above"),
                messageClass: fc.constantFrom("service", "marketing", "x"),
                templateId: weirdStrings,
                days: fc.jsonValue({ maxDepth: 1 }),
                cooldownHours: fc.oneof(fc.double(), fc.integer()),
                quietHours: fc.jsonValue({ maxDepth: 2 }),
                thresholds: fc.dictionary(
                  weirdStrings,
                  fc.record(
                    { below: weirdStrings, rearmAbove: weirdStrings, atOrAbove: weirdStrings },
                    { requiredKeys: [] },
                  ),
                  { maxKeys: 3 },
                ),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 4 },
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    comment: weirdStrings,
  },
  { requiredKeys: [] },
);
const rawBody = fc.oneof(
  jsonValue.map((value) => JSON.stringify(value)),
  rulesetBody.map((value) => JSON.stringify(value)),
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
        "/rules",
        "/rules/versions",
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
