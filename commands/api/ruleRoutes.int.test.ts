import anyTest, { type TestFn } from "ava";
import { startTestCommandApi, type TestCommandApi } from "../../test/startTestCommandApi.ts";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";

const test = anyTest as TestFn<TestCommandApi>;

const KEYS = {
  product: "product-key-0123456789abcdef",
  balances: "balances-key-0123456789abcdef",
};

test.before(async (t) => {
  Object.assign(
    t.context,
    await startTestCommandApi([
      { name: "product-team", key: KEYS.product, scopes: ["rules:write"] },
      { name: "core-banking", key: KEYS.balances, scopes: ["balances:write", "accounts:write"] },
    ]),
  );
});

test.after.always(async (t) => {
  await t.context.close();
});

async function call(
  method: string,
  path: string,
  options: { body?: unknown; key?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${test.meta.file === "" ? "" : ""}${urlOf()}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${options.key ?? KEYS.product}`,
      "content-type": "application/json",
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

let baseUrl = "";
const urlOf = () => baseUrl;
test.beforeEach((t) => {
  baseUrl = t.context.url;
});

interface Document {
  version: 1;
  rules: Record<string, unknown>[];
}

async function inForce(): Promise<{ version: number; document: Document }> {
  const answer = await call("GET", "/rules");
  return answer.json as unknown as { version: number; document: Document };
}

function withLowBalance(document: Document, change: Record<string, unknown>): Document {
  return {
    ...document,
    rules: document.rules.map((rule) => (rule["id"] === "low-balance" ? { ...rule, ...change } : rule)),
  };
}

test.serial(
  "the rules file is version 1, read with its ETag; publishing needs If-Match and rules:write",
  async (t) => {
    const first = await call("GET", "/rules");
    t.is(first.status, 200);
    t.is(first.headers.get("etag"), '"1"');
    t.like(first.json, { version: 1, comment: "the rules file, as the first version" });
    t.regex(String(first.json["publishedBy"]), /^file:.*defaultRules\.yaml$/);
    const { document } = first.json as unknown as { document: Document };
    t.deepEqual(
      document.rules.map((rule) => [rule["id"], rule["quietHours"]]),
      [
        ["low-balance", null],
        ["overdrawn", null],
        ["savings-offer", { start: "21:00", end: "08:00" }],
      ],
      "every default filled in",
    );
    const withoutIfMatch = await call("POST", "/rules/versions", { body: { document, comment: "x" } });
    t.is(withoutIfMatch.status, 428);
    t.is(withoutIfMatch.json["code"], "precondition_required");
    const forbidden = await call("POST", "/rules/versions", {
      key: KEYS.balances,
      body: { document, comment: "x" },
      headers: { "if-match": '"1"' },
    });
    t.is(forbidden.status, 403);
    t.is((await call("GET", "/rules", { key: KEYS.balances })).status, 403);
  },
);

test.serial(
  "a bad rule set is refused with every problem naming the rule and the field; nothing is published",
  async (t) => {
    const { document } = await inForce();
    const bad = {
      ...withLowBalance(document, {
        version: 2,
        thresholds: { GBP: { below: "1OO.00", rearmAbove: "150.00" } },
      }),
    };
    bad.rules[1] = {
      ...bad.rules[1],
      version: 2,
      thresholds: { XXX: { below: "1.00", rearmAbove: "2.00" } },
    };
    bad.rules.push({ ...bad.rules[2], id: "overdrawn" });
    const answer = await call("POST", "/rules/versions", {
      body: { document: bad, comment: "typo" },
      headers: { "if-match": '"1"' },
    });
    t.is(answer.status, 422);
    t.is(answer.json["reason"], "rules_invalid");
    const problems = (answer.json["errors"] as { field: string; problem: string }[]).map(
      (error) => error.problem,
    );
    t.true(
      problems.some((problem) => /^rule low-balance: thresholds\.GBP\.below: /.test(problem)),
      problems.join("; "),
    );
    t.true(problems.some((problem) => /^rule overdrawn: thresholds\.XXX: unknown currency/.test(problem)));
    t.true(problems.some((problem) => /^rule overdrawn: id is used twice/.test(problem)));
    const noTemplate = await call("POST", "/rules/versions", {
      body: { document: withLowBalance(document, { version: 2, templateId: "nope" }), comment: "x" },
      headers: { "if-match": '"1"' },
    });
    t.is(noTemplate.status, 422);
    t.regex(JSON.stringify(noTemplate.json["errors"]), /rule low-balance: templateId: no template nope/);
    const reused = await call("POST", "/rules/versions", {
      body: { document: withLowBalance(document, { cooldownHours: 1 }), comment: "x" },
      headers: { "if-match": '"1"' },
    });
    t.is(reused.status, 422);
    t.is(reused.json["reason"], "rule_version_reused");
    t.is((await inForce()).version, 1);
  },
);

test.serial(
  "a new threshold is published as version 2 and decides the next balance at once; the same again is no new version; a stale If-Match is 412",
  async (t) => {
    const { document } = await inForce();
    const raised = withLowBalance(document, {
      version: 2,
      thresholds: { GBP: { below: "200.00", rearmAbove: "250.00" } },
    });
    const published = await call("POST", "/rules/versions", {
      body: { document: raised, comment: "raise the low-balance alert to 200" },
      headers: { "if-match": '"1"', "idempotency-key": "publish-raise-0001" },
    });
    t.is(published.status, 201);
    t.is(published.headers.get("etag"), '"2"');
    t.is(published.headers.get("location"), "/rules/versions/2");
    t.like(published.json, { version: 2, publishedBy: "product-team", changed: true });
    t.is((await inForce()).version, 2);

    const again = await call("POST", "/rules/versions", {
      body: { document: raised, comment: "again" },
      headers: { "if-match": '"2"' },
    });
    t.is(again.status, 200);
    t.like(again.json, { version: 2, changed: false });
    const stale = await call("POST", "/rules/versions", {
      body: { document, comment: "back" },
      headers: { "if-match": '"1"' },
    });
    t.is(stale.status, 412);
    t.like(stale.json, { code: "revision_mismatch", currentVersion: 2, expectedVersion: 1 });

    const opened = await call("POST", "/accounts", {
      key: KEYS.balances,
      body: {
        accountId: "rules-1",
        customerId: "c",
        phone: "+447911123456",
        currency: "GBP",
        timeZone: "Europe/London",
        consents: { service: true, marketing: false },
      },
    });
    t.is(opened.status, 201);
    const pushed = await call("POST", "/accounts/rules-1/balances", {
      key: KEYS.balances,
      body: {
        amount: "180.00",
        currency: "GBP",
        balanceType: "InterimAvailable",
        referenceTime: "2026-11-24T08:59:00Z",
        bankReference: "r-1",
      },
    });
    t.is(pushed.status, 202);
    t.deepEqual(
      pushed.json["events"],
      ["BalanceObserved", "AccountQualified"],
      "180.00 is below the new 200.00",
    );
    const events = await collect(t.context.store.readStream("account-rules-1"));
    t.like(events.at(-1)?.data, { ruleId: "low-balance", ruleVersion: 2, rulesetVersion: 2 });
  },
);
