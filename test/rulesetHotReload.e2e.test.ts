import test from "ava";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { LiveRules } from "../commands/rules/LiveRules.ts";
import { startTestSystem } from "./startTestSystem.ts";

const KEYS = {
  product: { name: "product-team", key: "product-key-0123456789abcdef", scopes: ["rules:write"] },
  bank: {
    name: "core-banking",
    key: "bank-key-0123456789abcdef",
    scopes: ["accounts:write", "balances:write"],
  },
  support: { name: "support", key: "support-key-0123456789abcdef", scopes: ["queries:read"] },
} as const;

async function call(
  base: string,
  method: string,
  path: string,
  key: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

test("a new threshold published through the API decides the next balance in the running system, no restart; another process applies it within its poll; history and diff are served", async (t) => {
  const system = await startTestSystem(Object.values(KEYS));
  // Another process of the system, following the rule set on its own.
  const otherProcess = await LiveRules.start(system.store, {
    pollMs: 100,
    logger: pino({ level: "silent" }),
  });
  t.teardown(async () => {
    otherProcess.stop();
    await system.close();
  });
  const { commandUrl, queryUrl } = system;
  t.is(otherProcess.current().version, 1);

  t.is(
    (
      await call(commandUrl, "POST", "/accounts", KEYS.bank.key, {
        accountId: "hot-1",
        customerId: "c-1",
        phone: "+447911123456",
        currency: "GBP",
        timeZone: "Europe/London",
        consents: { service: true, marketing: false },
      })
    ).status,
    201,
  );
  const balance = (amount: string, minute: number) =>
    call(commandUrl, "POST", "/accounts/hot-1/balances", KEYS.bank.key, {
      amount,
      currency: "GBP",
      balanceType: "InterimAvailable",
      referenceTime: `2026-11-24T08:${String(minute).padStart(2, "0")}:00Z`,
    });
  t.deepEqual((await balance("300.00", 1)).json["events"], ["BalanceObserved"]);
  t.deepEqual((await balance("180.00", 2)).json["events"], ["BalanceObserved"], "180.00 is above 100.00");
  t.deepEqual((await balance("300.00", 3)).json["events"], ["BalanceObserved"]);
  // Another account qualifies under version 1, before the change.
  t.is(
    (
      await call(commandUrl, "POST", "/accounts", KEYS.bank.key, {
        accountId: "hot-2",
        customerId: "c-2",
        phone: "+447911123457",
        currency: "GBP",
        timeZone: "Europe/London",
        consents: { service: true, marketing: false },
      })
    ).status,
    201,
  );
  const earlier = await call(commandUrl, "POST", "/accounts/hot-2/balances", KEYS.bank.key, {
    amount: "50.00",
    currency: "GBP",
    balanceType: "InterimAvailable",
    referenceTime: "2026-11-24T08:03:00Z",
  });
  t.deepEqual(earlier.json["events"], ["BalanceObserved", "AccountQualified"]);

  const current = await call(commandUrl, "GET", "/rules", KEYS.product.key);
  const document = current.json["document"] as { version: 1; rules: Record<string, unknown>[] };
  const raised = {
    ...document,
    rules: document.rules.map((rule) =>
      rule["id"] === "low-balance"
        ? { ...rule, version: 2, thresholds: { GBP: { below: "200.00", rearmAbove: "250.00" } } }
        : rule,
    ),
  };
  const publishedAt = performance.now();
  const published = await call(
    commandUrl,
    "POST",
    "/rules/versions",
    KEYS.product.key,
    { document: raised, comment: "alert earlier: below 200.00" },
    { "if-match": current.headers.get("etag") ?? "" },
  );
  t.is(published.status, 201);

  const next = await balance("180.00", 4);
  t.deepEqual(
    next.json["events"],
    ["BalanceObserved", "AccountQualified"],
    "the next balance meets the new threshold",
  );

  while (otherProcess.current().version !== 2) {
    if (performance.now() - publishedAt > 5_000) t.fail("another process did not apply version 2 within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const appliedMs = performance.now() - publishedAt;
  t.log(`another process applied version 2 ${appliedMs.toFixed(0)} ms after the publish began (poll 100 ms)`);
  t.true(appliedMs < 1_000);
  t.is(otherProcess.current().inForce.find((rule) => rule.id === "low-balance")?.threshold.minor, 20_000n);

  const versions = await call(queryUrl, "GET", "/rules/versions", KEYS.support.key);
  t.deepEqual(
    (versions.json["versions"] as { version: number; publishedBy: string }[]).map((v) => [
      v.version,
      v.publishedBy,
    ]),
    [
      [2, "product-team"],
      [1, (versions.json["versions"] as { publishedBy: string }[])[1]?.publishedBy ?? ""],
    ],
  );
  const diff = await call(queryUrl, "GET", "/rules/diff", KEYS.support.key);
  t.like(diff.json, { from: { version: 1 }, to: { version: 2, comment: "alert earlier: below 200.00" } });
  t.deepEqual(diff.json["unchanged"], ["overdrawn", "savings-offer"]);
  t.deepEqual(
    (
      diff.json["changed"] as { id: string; changes: { path: string; from: unknown; to: unknown }[] }[]
    )[0]?.changes.filter((change) => change.path.startsWith("thresholds.GBP")),
    [
      { path: "thresholds.GBP.below", from: "100.00", to: "200.00" },
      { path: "thresholds.GBP.rearmAbove", from: "150.00", to: "250.00" },
    ],
  );
  const states = await call(queryUrl, "GET", "/accounts/hot-1/rule-states", KEYS.support.key, undefined, {
    "x-min-position": String(next.json["position"]),
  });
  const lowBalance = (states.json["rules"] as { ruleId: string; ruleVersion: number; state: string }[]).find(
    (rule) => rule.ruleId === "low-balance",
  );
  t.like(lowBalance, { ruleVersion: 2, state: "qualified" });
  // Each decision is explained with the threshold of the version it was made under, the older one too.
  const explained = async (accountId: string) => {
    const timeline = await call(
      queryUrl,
      "GET",
      `/accounts/${accountId}/timeline`,
      KEYS.support.key,
      undefined,
      {
        "x-min-position": String(next.json["position"]),
      },
    );
    return (timeline.json["items"] as { type: string; explanation: string }[])
      .filter((item) => item.type === "AccountQualified")
      .map((item) => item.explanation);
  };
  const [underVersion1] = await explained("hot-2");
  t.regex(underVersion1 ?? "", /below the threshold of £?100\.00/);
  const [underVersion2] = await explained("hot-1");
  t.regex(underVersion2 ?? "", /below the threshold of £?200\.00/);
  t.is((await call(queryUrl, "GET", "/rules/versions/3", KEYS.support.key)).status, 404);
  t.is((await call(queryUrl, "GET", "/rules/versions/x", KEYS.support.key)).status, 400);
});
