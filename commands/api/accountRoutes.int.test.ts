import anyTest, { type TestFn } from "ava";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";
import { startTestCommandApi, type TestCommandApi } from "../../test/startTestCommandApi.ts";

// What a balance push may say: the bounds of the domain, as the HTTP edge answers them. The test
// API's clock is 2026-11-24T09:00Z; the account is in GBP.
const test = anyTest as TestFn<TestCommandApi>;

const KEY = "balances-admin-key-0123456789abcdef";

test.before(async (t) => {
  Object.assign(t.context, await startTestCommandApi([{ name: "ops", key: KEY, scopes: ["admin"] }]));
});

test.after.always(async (t) => {
  await t.context.close();
});

async function post(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; type: string; json: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    json: (await response.json()) as Record<string, unknown>,
  };
}

let accounts = 0;
async function openAccount(url: string): Promise<string> {
  accounts += 1;
  const accountId = `bounds-${accounts}`;
  const opened = await post(url, "/accounts", {
    accountId,
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
  });
  if (opened.status !== 201) throw new Error(`open: ${opened.status}`);
  return accountId;
}

const push = (overrides: Record<string, unknown>) => ({
  amount: "42.00",
  currency: "GBP",
  balanceType: "InterimAvailable",
  creditLineIncluded: false,
  referenceTime: "2026-11-24T08:59:00Z",
  ...overrides,
});

test("a reference time far in the future or the past is refused with 422, and the account still qualifies afterwards", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  for (const referenceTime of [
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2026-11-24T09:05:01Z",
    "2026-11-17T08:59:59Z",
  ]) {
    const answer = await post(url, `/accounts/${accountId}/balances`, push({ referenceTime }));
    t.is(answer.status, 422, referenceTime);
    t.is(answer.type, "application/problem+json");
    t.like(answer.json, { code: "unprocessable", reason: "reference_time_out_of_bounds" });
  }
  t.is((await collect(store.readStream(`account-${accountId}`))).length, 1, "nothing appended");
  const inBounds = await post(url, `/accounts/${accountId}/balances`, push({}));
  t.is(inBounds.status, 202);
  t.like(inBounds.json, { events: ["BalanceObserved", "AccountQualified"] });
});

test("a reference time must name its zone; an offset is converted to UTC", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  const zoneless = await post(
    url,
    `/accounts/${accountId}/balances`,
    push({ referenceTime: "2026-11-24T08:59:00" }),
  );
  t.is(zoneless.status, 400);
  t.like(zoneless.json, { code: "invalid_request", errors: [{ field: "body.referenceTime" }] });
  const offset = await post(
    url,
    `/accounts/${accountId}/balances`,
    push({ referenceTime: "2026-11-24T09:30:00+01:00" }),
  );
  t.is(offset.status, 202);
  const events = await collect(store.readStream(`account-${accountId}`));
  t.like(events[1]?.data, { referenceTime: "2026-11-24T08:30:00.000Z" });
});

test("a balance in another currency than the account's is refused with 422 currency_mismatch", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  const euros = await post(url, `/accounts/${accountId}/balances`, push({ currency: "EUR" }));
  t.is(euros.status, 422);
  t.like(euros.json, { code: "unprocessable", reason: "currency_mismatch" });
  const euroLine = await post(
    url,
    `/accounts/${accountId}/balances`,
    push({
      creditLineIncluded: undefined,
      creditLines: [{ included: true, amount: { amount: "100.00", currency: "EUR" } }],
    }),
  );
  t.is(euroLine.status, 422);
  t.like(euroLine.json, { reason: "currency_mismatch" });
  t.is((await collect(store.readStream(`account-${accountId}`))).length, 1);
});

test("a balance type is an Open Banking or ISO 20022 code, and only today's balance types count", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  const foo = await post(url, `/accounts/${accountId}/balances`, push({ balanceType: "Foo" }));
  t.is(foo.status, 400);
  t.like(foo.json, { errors: [{ field: "body.balanceType" }] });
  for (const balanceType of [
    "ForwardAvailable",
    "Expected",
    "Information",
    "PreviouslyClosedBooked",
    "FWAV",
  ]) {
    const answer = await post(url, `/accounts/${accountId}/balances`, push({ balanceType }));
    t.is(answer.status, 422, balanceType);
    t.like(answer.json, { code: "unprocessable", reason: "balance_type_not_current" });
  }
  const iso = await post(url, `/accounts/${accountId}/balances`, push({ balanceType: "CLBD" }));
  t.is(iso.status, 202);
  const events = await collect(store.readStream(`account-${accountId}`));
  t.like(events[1]?.data, { balanceType: "ClosingBooked" });
});

test("credit lines are kept in the event, and the rules compare the customer's own money", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  const answer = await post(
    url,
    `/accounts/${accountId}/balances`,
    push({
      amount: "150.00",
      creditLineIncluded: undefined,
      creditLines: [
        { included: true, type: "Pre-Agreed", amount: { amount: "100.00", currency: "GBP" } },
        { included: false, type: "Emergency" },
      ],
    }),
  );
  t.is(answer.status, 202);
  t.like(answer.json, { events: ["BalanceObserved", "AccountQualified"] });
  const events = await collect(store.readStream(`account-${accountId}`));
  t.like(events[1]?.data, {
    balance: { minor: "15000", currency: "GBP" },
    creditLineIncluded: true,
    creditLines: [
      { included: true, type: "Pre-Agreed", amount: { minor: "10000", currency: "GBP" } },
      { included: false, type: "Emergency", amount: null },
    ],
  });
  t.like(events[2]?.data, { ruleId: "low-balance", balance: { minor: "5000", currency: "GBP" } });
});

test("creditLineIncluded alone still works, and must agree with creditLines when both are sent", async (t) => {
  const { url, store } = t.context;
  const accountId = await openAccount(url);
  const legacy = await post(url, `/accounts/${accountId}/balances`, push({ creditLineIncluded: true }));
  t.is(legacy.status, 202);
  const events = await collect(store.readStream(`account-${accountId}`));
  t.like(events[1]?.data, {
    creditLineIncluded: true,
    creditLines: [{ included: true, type: null, amount: null }],
  });
  const contradiction = await post(
    url,
    `/accounts/${accountId}/balances`,
    push({
      creditLineIncluded: true,
      creditLines: [{ included: false, amount: { amount: "1.005", currency: "GBP" } }],
      referenceTime: "2026-11-24T08:59:30Z",
    }),
  );
  t.is(contradiction.status, 400);
  t.like(contradiction.json, {
    errors: [{ field: "body.creditLines.0.amount.amount" }, { field: "body.creditLineIncluded" }],
  });
});

test("the OpenAPI document states the balance types, the credit lines, the reference time's bounds and the 422 reasons", async (t) => {
  const response = await fetch(`${t.context.url}/openapi.json`);
  const document = (await response.json()) as {
    paths: Record<string, { post: { description?: string; requestBody: unknown } }>;
  };
  const operation = document.paths["/accounts/{id}/balances"]?.post;
  const schema = (
    operation?.requestBody as {
      content: {
        "application/json": {
          schema: { properties: Record<string, { enum?: string[]; description?: string }> };
        };
      };
    }
  ).content["application/json"].schema;
  t.true(schema.properties.balanceType?.enum?.includes("InterimAvailable"));
  t.true(schema.properties.balanceType?.enum?.includes("ITAV"));
  t.false(schema.properties.balanceType?.enum?.includes("Foo"));
  t.regex(schema.properties.balanceType?.description ?? "", /InterimAvailable, InterimBooked/);
  t.truthy(schema.properties.creditLines);
  t.regex(schema.properties.referenceTime?.description ?? "", /BALANCE_MAX_FUTURE_SKEW_SECONDS/);
  for (const reason of ["reference_time_out_of_bounds", "currency_mismatch", "balance_type_not_current"]) {
    t.true(operation?.description?.includes(reason), reason);
  }
});
