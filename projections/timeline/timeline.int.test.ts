import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { startTestSystem, type TestSystem } from "../../test/startTestSystem.ts";
import { timelineProjection } from "./timelineProjection.ts";

const test = anyTest as TestFn<TestSystem & { position: string }>;

const KEYS = {
  admin: "admin-key-0123456789abcdef",
  reader: "reader-key-0123456789abcdef",
  pii: "pii-key-0123456789abcdef0123",
};
const PHONE = "+447911123456";
const at = (hour: number, minute = 0) => epochMsToInstant(Date.UTC(2026, 10, 24, hour, minute));

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${KEYS.admin}`,
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function get(
  t: { context: TestSystem & { position: string } },
  path: string,
  key = KEYS.reader,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${t.context.queryUrl}${path}`, {
    headers: { authorization: `Bearer ${key}`, "x-min-position": t.context.position },
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

function openAccount(url: string, accountId: string, currency = "GBP") {
  return post(url, "/accounts", {
    accountId,
    customerId: `cust-${accountId}`,
    phone: PHONE,
    currency,
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
  });
}

function pushBalance(url: string, accountId: string, amount: string, minute: number, currency = "GBP") {
  return post(url, `/accounts/${accountId}/balances`, {
    amount,
    currency,
    balanceType: "InterimAvailable",
    creditLineIncluded: false,
    referenceTime: at(8, minute),
  });
}

test.before(async (t) => {
  const system = await startTestSystem([
    { name: "ops", key: KEYS.admin, scopes: ["admin"] },
    { name: "dashboard", key: KEYS.reader, scopes: ["queries:read"] },
    { name: "support", key: KEYS.pii, scopes: ["queries:read", "pii:read"] },
  ]);
  Object.assign(t.context, system);
  const url = system.commandUrl;
  await openAccount(url, "low");
  await pushBalance(url, "low", "500.00", 1);
  await pushBalance(url, "low", "40.00", 3);
  await pushBalance(url, "low", "45.00", 2); // older than the last: stale
  await post(url, "/notifications", {
    notificationId: randomUUID(),
    accountId: "low",
    messageClass: "service",
    templateId: "low-balance",
    variables: { balance: "£40.00", threshold: "£100.00" },
  });
  await openAccount(url, "healthy");
  await pushBalance(url, "healthy", "6000.00", 1);
  await openAccount(url, "yen", "JPY");
  const last = await pushBalance(url, "yen", "100", 1, "JPY");
  t.context.position = String(last["position"]);
});

test.after.always(async (t) => {
  await t.context.close();
});

test("the timeline lists the account's events in log order, each explained", async (t) => {
  const { status, json } = await get(t, "/accounts/low/timeline?limit=500");
  t.is(status, 200);
  const items = json["items"] as {
    type: string;
    explanation: string;
    position: string;
    data: Record<string, unknown>;
  }[];
  const types = items.map((item) => item.type);
  t.deepEqual(types.slice(0, 4), ["AccountOpened", "BalanceObserved", "BalanceObserved", "AccountQualified"]);
  const positions = items.map((item) => item.position);
  t.deepEqual([...positions].sort(), positions);
  const stale = items.find((item) => item.type === "BalanceObserved" && item.data["stale"] === true);
  t.regex(stale?.explanation ?? "", /45\.00 GBP .*not counted/);
  const qualified = items.find((item) => item.type === "AccountQualified");
  t.is(
    qualified?.explanation,
    "Qualified for rule low-balance (version 1, episode 1): the balance compared was 40.00 GBP, below the threshold of 100.00 GBP.",
  );
  t.is(json["next"], null);
});

test("the timeline masks the phone number and withholds SMS bodies without pii:read", async (t) => {
  const masked = JSON.stringify((await get(t, "/accounts/low/timeline")).json);
  t.false(masked.includes(PHONE));
  t.true(masked.includes("+44•••••••456"));
  const shown = JSON.stringify((await get(t, "/accounts/low/timeline", KEYS.pii)).json);
  t.true(shown.includes(PHONE));
});

test("the timeline pages by position, both ways", async (t) => {
  const all = (
    (await get(t, "/accounts/low/timeline?limit=500")).json["items"] as { position: string }[]
  ).map((item) => item.position);
  const seen: string[] = [];
  let next: string | null = null;
  do {
    const query: string = next === null ? "" : `&after=${next}`;
    const page = (await get(t, `/accounts/low/timeline?limit=2&order=desc${query}`)).json;
    seen.push(...(page["items"] as { position: string }[]).map((item) => item.position));
    next = page["next"] as string | null;
  } while (next !== null);
  t.deepEqual(seen, [...all].reverse());
});

test("an unknown account has no timeline and no rule states", async (t) => {
  t.is((await get(t, "/accounts/nobody/timeline")).status, 404);
  t.is((await get(t, "/accounts/nobody/rule-states")).status, 404);
});

test("rule states: fired and waiting to re-arm, armed, accruing, not applicable", async (t) => {
  const low = (await get(t, "/accounts/low/rule-states")).json as {
    balance: { amount: string; balanceType: string; source: string };
    rules: { ruleId: string; state: string; explanation: string }[];
  };
  t.like(low.balance, { amount: "40.00", balanceType: "InterimAvailable", source: "push" });
  const byId = new Map(low.rules.map((rule) => [rule.ruleId, rule]));
  t.is(byId.get("low-balance")?.state, "qualified");
  t.regex(
    byId.get("low-balance")?.explanation ?? "",
    /^Fired at 2026-11-24T09:00:00.000Z .*re-arm .*above 150\.00 GBP/,
  );
  t.is(byId.get("overdrawn")?.state, "armed");
  t.regex(
    byId.get("overdrawn")?.explanation ?? "",
    /^Armed: alerts when the balance drops below 0\.00 GBP; the balance is 40\.00 GBP/,
  );

  const healthy = (await get(t, "/accounts/healthy/rule-states")).json as {
    rules: { ruleId: string; state: string; explanation: string; daysAccrued: number; consented: boolean }[];
  };
  const savings = healthy.rules.find((rule) => rule.ruleId === "savings-offer");
  t.is(savings?.state, "accruing");
  t.is(savings?.daysAccrued, 0);
  t.false(savings?.consented);
  t.regex(savings?.explanation ?? "", /for 0 of 30 days.*does not consent to marketing/);

  const yen = (await get(t, "/accounts/yen/rule-states")).json as {
    rules: { state: string; explanation: string }[];
  };
  t.true(yen.rules.length > 0);
  for (const rule of yen.rules) {
    t.is(rule.state, "not-applicable");
    t.regex(rule.explanation, /this account is in JPY/);
  }
});

test("accounts are found by phone number only with pii:read", async (t) => {
  const denied = await get(t, `/accounts?phone=${encodeURIComponent(PHONE)}`);
  t.is(denied.status, 403);
  t.is(denied.json["code"], "forbidden");
  const found = await get(t, `/accounts?phone=${encodeURIComponent(PHONE)}`, KEYS.pii);
  t.is(found.status, 200);
  const ids = (found.json["items"] as { accountId: string; phone: string }[]).map((item) => item.accountId);
  t.deepEqual(ids, ["healthy", "low", "yen"]);
  t.is((await get(t, "/accounts?phone=12345", KEYS.pii)).status, 400);
  const nobody = await get(t, `/accounts?phone=${encodeURIComponent("+447911123999")}`, KEYS.pii);
  t.deepEqual(nobody.json["items"], [], JSON.stringify(nobody.json));
});

test("one event per batch or all in one batch: the same timeline", async (t) => {
  const { database, store } = t.context;
  const rows = async (batchSize: number) => {
    const schema = `${database.schema}_timeline_${batchSize}`;
    await applyProjection(database.pool, store, timelineProjection, schema, batchSize);
    const entries = await database.pool.query(
      `select * from "${schema}".timeline_entries order by account_id, position`,
    );
    const notifications = await database.pool.query(
      `select * from "${schema}".timeline_notifications order by notification_id`,
    );
    await database.pool.query(`drop schema "${schema}" cascade`);
    return { entries: entries.rows, notifications: notifications.rows };
  };
  const one = await rows(1);
  t.true(one.entries.some((row: { stream_id: string }) => row.stream_id.startsWith("notification-")));
  t.deepEqual(one, await rows(1000));
});
