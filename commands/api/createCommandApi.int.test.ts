import anyTest, { type TestFn } from "ava";
import { startTestCommandApi, type TestCommandApi } from "../../test/startTestCommandApi.ts";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";

const test = anyTest as TestFn<TestCommandApi>;

const KEYS = { admin: "admin-key-0123456789abcdef", balances: "balances-key-0123456789abcdef" };

test.before(async (t) => {
  Object.assign(
    t.context,
    await startTestCommandApi(
      [
        { name: "ops", key: KEYS.admin, scopes: ["admin"] },
        { name: "core-banking", key: KEYS.balances, scopes: ["balances:write"] },
      ],
      { maxBodyBytes: 4096 },
    ),
  );
});

test.after.always(async (t) => {
  await t.context.close();
});

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; json: Record<string, unknown>; text: string; headers: Headers }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEYS.admin}`, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    json: JSON.parse(text) as Record<string, unknown>,
    text,
    headers: response.headers,
  };
}

const account = (accountId: string) => ({
  accountId,
  customerId: "cust-1",
  phone: "+447911123456",
  currency: "GBP",
  timeZone: "Europe/London",
  consents: { service: true, marketing: false },
});

test("an account is opened, its balance recorded, and a low balance qualifies", async (t) => {
  const { url, store } = t.context;
  const opened = await call(url, "POST", "/accounts", account("api-1"));
  t.is(opened.status, 201);
  t.like(opened.json, {
    accountId: "api-1",
    streamId: "account-api-1",
    revision: 0,
    events: ["AccountOpened"],
  });
  t.regex(String(opened.json.position), /^[0-9a-f]{16}-[0-9a-f]{16}$/);
  const balance = await call(
    url,
    "POST",
    "/accounts/api-1/balances",
    {
      amount: "42.10",
      currency: "GBP",
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: "2026-11-24T08:59:00+00:00",
    },
    { authorization: `Bearer ${KEYS.balances}`, "if-match": '"0"' },
  );
  t.is(balance.status, 202);
  t.like(balance.json, { revision: 2, events: ["BalanceObserved", "AccountQualified"] });
  t.is((await collect(store.readStream("account-api-1"))).length, 3);
});

test("errors are problem+json with the right status, and nothing is appended", async (t) => {
  const { url, store } = t.context;
  await call(url, "POST", "/accounts", account("api-2"));
  const before = (await collect(store.readStream("account-api-2"))).length;
  const balanceBody = {
    amount: "1.00",
    currency: "GBP",
    balanceType: "InterimAvailable",
    creditLineIncluded: false,
    referenceTime: "2026-11-24T08:00:00Z",
  };
  const cases: [
    string,
    Promise<{ status: number; type: string; json: Record<string, unknown> }>,
    number,
    string,
  ][] = [
    [
      "no key",
      call(url, "POST", "/accounts/api-2/balances", balanceBody, { authorization: "" }),
      401,
      "unauthenticated",
    ],
    [
      "wrong key",
      call(url, "POST", "/accounts/api-2/balances", balanceBody, {
        authorization: "Bearer not-a-real-key-000000",
      }),
      401,
      "invalid_api_key",
    ],
    [
      "scope",
      call(
        url,
        "PUT",
        "/accounts/api-2/contact",
        { phone: "+447911123457" },
        { authorization: `Bearer ${KEYS.balances}` },
      ),
      403,
      "forbidden",
    ],
    ["bad JSON", call(url, "POST", "/accounts/api-2/balances", '{"amount": '), 400, "invalid_request"],
    [
      "media type",
      call(url, "POST", "/accounts/api-2/balances", "amount=1", {
        "content-type": "application/x-www-form-urlencoded",
      }),
      415,
      "unsupported_media_type",
    ],
    [
      "too large",
      call(url, "POST", "/accounts/api-2/balances", { ...balanceBody, bankReference: "x".repeat(10_000) }),
      413,
      "payload_too_large",
    ],
    [
      "amount digits",
      call(url, "POST", "/accounts/api-2/balances", { ...balanceBody, amount: "1.005" }),
      400,
      "invalid_request",
    ],
    [
      "If-Match stale",
      call(url, "POST", "/accounts/api-2/balances", balanceBody, { "if-match": '"7"' }),
      412,
      "revision_mismatch",
    ],
    [
      "If-Match garbage",
      call(url, "POST", "/accounts/api-2/balances", balanceBody, { "if-match": "yesterday" }),
      400,
      "invalid_request",
    ],
    ["exists", call(url, "POST", "/accounts", account("api-2")), 409, "refused"],
    [
      "unknown account",
      call(url, "PUT", "/accounts/nobody/contact", { phone: "+447911123457" }),
      404,
      "not_found",
    ],
    ["unknown route", call(url, "GET", "/nowhere"), 404, "not_found"],
    [
      "bad class",
      call(url, "PUT", "/accounts/api-2/consents/spam", { granted: true }),
      400,
      "invalid_request",
    ],
  ];
  for (const [name, pending, status, code] of cases) {
    const answer = await pending;
    t.is(answer.status, status, name);
    t.is(answer.json.code, code, name);
    t.true(answer.type.startsWith("application/problem+json"), name);
  }
  t.is((await collect(store.readStream("account-api-2"))).length, before);
});

test("a bad request lists every bad field at once", async (t) => {
  const answer = await call(t.context.url, "POST", "/accounts", {
    customerId: "",
    phone: "07700 900123",
    currency: "XXX",
    timeZone: "Mars/Olympus",
    consents: { service: "yes" },
    extra: 1,
  });
  t.is(answer.status, 400);
  const fields = (answer.json.errors as { field: string }[]).map((error) => error.field).sort();
  t.deepEqual(fields, [
    "body",
    "body.consents.marketing",
    "body.consents.service",
    "body.currency",
    "body.customerId",
    "body.phone",
    "body.timeZone",
  ]);
});

test("a refusal carries the domain's reason code", async (t) => {
  const { url } = t.context;
  await call(url, "POST", "/accounts", account("api-3"));
  await call(url, "POST", "/accounts/api-3/close", {});
  const answer = await call(url, "PUT", "/accounts/api-3/contact", { phone: "+447911123457" });
  t.is(answer.status, 409);
  t.like(answer.json, { code: "refused", reason: "account_closed" });
});

test("a retried POST with the same Idempotency-Key gets the first answer byte for byte; another body is refused", async (t) => {
  const { url, store } = t.context;
  await call(url, "POST", "/accounts", account("api-4"));
  const body = {
    amount: "12.00",
    currency: "GBP",
    balanceType: "InterimAvailable",
    creditLineIncluded: false,
    referenceTime: "2026-11-24T08:30:00Z",
  };
  const key = { "idempotency-key": "retry-0123456789" };
  const first = await call(url, "POST", "/accounts/api-4/balances", body, key);
  const again = await call(url, "POST", "/accounts/api-4/balances", body, key);
  t.is(first.status, 202);
  t.is(again.status, 202);
  t.is(again.text, first.text);
  t.is(again.headers.get("etag"), first.headers.get("etag"));
  t.is(again.headers.get("idempotent-replayed"), "true");
  const other = await call(url, "POST", "/accounts/api-4/balances", { ...body, amount: "13.00" }, key);
  t.is(other.status, 422);
  t.is(other.json.code, "idempotency_key_reused");
  t.is(
    (await collect(store.readStream("account-api-4"))).length,
    3,
    "opened, observed, qualified: nothing twice",
  );
  const refusedFirst = await call(url, "POST", "/accounts", account("api-4"), {
    "idempotency-key": "exists-0123456789",
  });
  const refusedAgain = await call(url, "POST", "/accounts", account("api-4"), {
    "idempotency-key": "exists-0123456789",
  });
  t.is(refusedFirst.status, 409);
  t.is(refusedAgain.text, refusedFirst.text, "a refusal is replayed too");
  const badKey = await call(url, "POST", "/accounts", account("api-5"), { "idempotency-key": "short" });
  t.is(badKey.status, 400);
});

test("the same Idempotency-Key sent concurrently runs the command once", async (t) => {
  const { url, store } = t.context;
  const answers = await Promise.all(
    Array.from({ length: 10 }, () =>
      call(url, "POST", "/accounts", account("api-6"), { "idempotency-key": "burst-0123456789" }),
    ),
  );
  t.true(
    answers.every(
      (answer) =>
        answer.status === 201 || (answer.status === 409 && answer.json.code === "idempotency_key_in_use"),
    ),
  );
  t.true(answers.some((answer) => answer.status === 201));
  t.is((await collect(store.readStream("account-api-6"))).length, 1);
});

test("/openapi.json describes every route with the schemas the routes validate with", async (t) => {
  const response = await fetch(`${t.context.url}/openapi.json`);
  t.is(response.status, 200);
  const document = (await response.json()) as {
    openapi: string;
    paths: Record<
      string,
      Record<
        string,
        {
          requestBody: {
            content: {
              "application/json": { schema: { required?: string[]; additionalProperties?: boolean } };
            };
          };
        }
      >
    >;
  };
  t.is(document.openapi, "3.1.0");
  t.deepEqual(Object.keys(document.paths).sort(), [
    "/accounts",
    "/accounts/{id}/balance-refreshes",
    "/accounts/{id}/balances",
    "/accounts/{id}/close",
    "/accounts/{id}/consents/{class}",
    "/accounts/{id}/contact",
    "/notifications",
    "/notifications/{id}/cancel",
    "/rules",
    "/rules/versions",
  ]);
  const publish = document.paths["/rules/versions"]?.post?.requestBody.content["application/json"].schema;
  t.deepEqual(publish?.required?.sort(), ["comment", "document"]);
  const balanceSchema =
    document.paths["/accounts/{id}/balances"]?.post?.requestBody.content["application/json"].schema;
  t.deepEqual(balanceSchema?.required?.sort(), ["amount", "balanceType", "currency", "referenceTime"]);
  t.false(balanceSchema?.additionalProperties);
});

test("an operator notification is rendered for the account's phone, and can be cancelled before sending", async (t) => {
  const { url, store } = t.context;
  await call(url, "POST", "/accounts", account("api-7"));
  const requested = await call(url, "POST", "/notifications", {
    accountId: "api-7",
    messageClass: "service",
    templateId: "low-balance",
    variables: { balance: "£42.10", threshold: "£100.00" },
  });
  t.is(requested.status, 201);
  const notificationId = String(requested.json.notificationId);
  t.like(requested.json, {
    streamId: `notification-${notificationId}`,
    revision: 0,
    events: ["NotificationRequested"],
  });
  const [event] = await collect(store.readStream(`notification-${notificationId}`));
  t.like(event?.data, {
    recipient: "+447911123456",
    body: "Your balance is £42.10, below £100.00. Reply STOP to opt out.",
  });
  const cancelled = await call(url, "POST", `/notifications/${notificationId}/cancel`, {});
  t.is(cancelled.status, 200);
  t.like(cancelled.json, { events: ["NotificationCancelled"] });
});

test("notification requests are refused with clear answers", async (t) => {
  const { url } = t.context;
  await call(url, "POST", "/accounts", account("api-8"));
  const missingVariable = await call(url, "POST", "/notifications", {
    accountId: "api-8",
    messageClass: "service",
    templateId: "low-balance",
    variables: { balance: "£1" },
  });
  t.is(missingVariable.status, 409);
  t.is(missingVariable.json.reason, "template_render_failed");
  const unknownTemplate = await call(url, "POST", "/notifications", {
    accountId: "api-8",
    messageClass: "service",
    templateId: "nope",
  });
  t.is(unknownTemplate.status, 400);
  const unknownAccount = await call(url, "POST", "/notifications", {
    accountId: "nobody",
    messageClass: "service",
    templateId: "overdrawn",
    variables: { balance: "-£1" },
  });
  t.is(unknownAccount.status, 404);
  const unknownNotification = await call(
    url,
    "POST",
    `/notifications/${"0".repeat(8)}-0000-4000-8000-${"0".repeat(12)}/cancel`,
    {},
  );
  t.is(unknownNotification.status, 404);
  const wrongScope = await call(
    url,
    "POST",
    "/notifications",
    { accountId: "api-8", messageClass: "service", templateId: "overdrawn" },
    { authorization: `Bearer ${KEYS.balances}` },
  );
  t.is(wrongScope.status, 403);
});

test("20 concurrent balance pushes at the same If-Match revision: exactly one 202, nineteen 412", async (t) => {
  const { url, store } = t.context;
  await call(url, "POST", "/accounts", account("api-9"));
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, index) =>
      call(
        url,
        "POST",
        "/accounts/api-9/balances",
        {
          amount: `${500 + index}.00`,
          currency: "GBP",
          balanceType: "InterimAvailable",
          creditLineIncluded: false,
          referenceTime: `2026-11-24T08:${String(index + 10).padStart(2, "0")}:00Z`,
        },
        { "if-match": '"0"' },
      ),
    ),
  );
  t.is(answers.filter((answer) => answer.status === 202).length, 1);
  t.is(
    answers.filter((answer) => answer.status === 412 && answer.json.code === "revision_mismatch").length,
    19,
  );
  t.is((await collect(store.readStream("account-api-9"))).length, 2);
});

test("consent changes and balance refresh requests are recorded; repeating a consent appends nothing", async (t) => {
  const { url, store } = t.context;
  await call(url, "POST", "/accounts", account("api-10"));
  const granted = await call(url, "PUT", "/accounts/api-10/consents/marketing", { granted: true });
  t.is(granted.status, 200);
  t.like(granted.json, { revision: 1, events: ["ConsentChanged"] });
  const again = await call(url, "PUT", "/accounts/api-10/consents/marketing", {
    granted: true,
    source: "api",
  });
  t.like(again.json, { revision: 1, events: [] });
  const refresh = await call(
    url,
    "POST",
    "/accounts/api-10/balance-refreshes",
    {},
    { authorization: `Bearer ${KEYS.balances}` },
  );
  t.is(refresh.status, 202);
  t.like(refresh.json, { revision: 2, events: ["BalanceRefreshRequested"] });
  const events = await collect(store.readStream("account-api-10"));
  t.like(events[1]?.data, { messageClass: "marketing", granted: true, source: "api" });
  t.like(events[2]?.data, { reason: "manual" });
});
