import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { ApiKeys, hashApiKey } from "../../http/ApiKeys.ts";
import { projectionSchemas } from "../runtime/ProjectionBuilds.ts";
import { createQueryApi } from "./createQueryApi.ts";
import { LivePositions } from "./LivePositions.ts";
import { MemoryQueryCache } from "./MemoryQueryCache.ts";
import { queryRoutes } from "./queryRoutes.ts";
import { handleCommand } from "../../commands/handleCommand.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import type { NotificationCommand } from "../../domain/notification/NotificationCommand.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { startTestSystem, type TestSystem } from "../../test/startTestSystem.ts";
import { maskPhone } from "../accounts/accountQueries.ts";

type Context = TestSystem & { notificationId: string; lastPosition: string };
const test = anyTest as TestFn<Context>;

const KEYS = {
  admin: "admin-key-0123456789abcdef",
  reader: "reader-key-0123456789abcdef",
  pii: "pii-key-0123456789abcdef0123",
  writer: "writer-key-0123456789abcdef",
};
const PHONE = "+447911123456";

async function post(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${KEYS.admin}`,
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function get(
  url: string,
  path: string,
  { key = KEYS.reader, headers = {} }: { key?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; type: string; headers: Headers; text: string; json: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...headers },
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // CSV or empty (304)
  }
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    headers: response.headers,
    text,
    json,
  };
}

const at = (hour: number, minute = 0) => epochMsToInstant(Date.UTC(2026, 10, 24, hour, minute));

test.before(async (t) => {
  const system = await startTestSystem([
    { name: "ops", key: KEYS.admin, scopes: ["admin"] },
    { name: "dashboard", key: KEYS.reader, scopes: ["queries:read"] },
    { name: "support", key: KEYS.pii, scopes: ["queries:read", "pii:read"] },
    { name: "core-banking", key: KEYS.writer, scopes: ["balances:write"] },
  ]);
  Object.assign(t.context, system);
  const url = system.commandUrl;
  for (const id of ["acc-1", "acc-2", "acc-3"]) {
    const opened = await post(url, "/accounts", {
      accountId: id,
      customerId: `cust-${id}`,
      phone: PHONE,
      currency: "GBP",
      timeZone: "Europe/London",
      consents: { service: true, marketing: false },
    });
    if (opened.status !== 201) throw new Error(JSON.stringify(opened.json));
  }
  const balance = (id: string, amount: string, minute: number) =>
    post(url, `/accounts/${id}/balances`, {
      amount,
      currency: "GBP",
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: at(8, minute),
    });
  for (const [id, amount, minute] of [
    ["acc-1", "-5.00", 1],
    ["acc-2", "50.00", 2],
    ["acc-3", "500.00", 3],
    ["acc-2", "200.00", 4],
    ["acc-2", "20.00", 5],
  ] as const) {
    const recorded = await balance(id, amount, minute);
    if (recorded.status !== 202 && recorded.status !== 201) throw new Error(JSON.stringify(recorded.json));
  }
  const notificationId = randomUUID();
  const requested = await post(url, "/notifications", {
    notificationId,
    accountId: "acc-1",
    messageClass: "service",
    templateId: "overdrawn",
    variables: { balance: "-£5.00" },
  });
  if (requested.status !== 201 && requested.status !== 202) throw new Error(JSON.stringify(requested.json));
  const options = { newEventId: randomUUID, metadata: { correlationId: "test", actor: "test" } };
  const run = (command: NotificationCommand) =>
    handleCommand(system.store, notificationDecider, notificationStreamId(notificationId), command, options);
  await run({
    type: "StartSmsSubmission",
    data: { notificationId, attempt: 1, provider: "sim-a", now: at(9, 1) },
  });
  await run({
    type: "RecordSmsSubmission",
    data: {
      notificationId,
      attempt: 1,
      provider: "sim-a",
      providerMessageId: "SM1",
      segments: 1,
      now: at(9, 1),
    },
  });
  const last = await run({
    type: "ReportSmsStatus",
    data: {
      notificationId,
      provider: "sim-a",
      dialect: "twilio",
      rawStatus: "delivered",
      errorCode: null,
      via: "webhook",
      reportedAt: at(9, 2),
    },
  });
  if (last.outcome !== "accepted") throw new Error(JSON.stringify(last));
  t.context.lastPosition = last.position ?? "";
  t.context.notificationId = notificationId;
  for (const balance of ["£1.00", "£2.00"]) {
    const another = await post(url, "/notifications", {
      accountId: "acc-3",
      messageClass: "service",
      templateId: "overdrawn",
      variables: { balance },
    });
    if (another.status !== 201) throw new Error(JSON.stringify(another.json));
    t.context.lastPosition = another.json.position as string;
  }
});

test.after.always(async (t) => {
  await t.context.close();
});

/** Every read waits for the seed: the projections must have passed its last event. */
const seeded = (t: { context: Context }) => ({ "x-min-position": t.context.lastPosition });

test("GET /accounts/{id}: the account with its balance and qualifications; phone masked without pii:read", async (t) => {
  const masked = await get(t.context.queryUrl, "/accounts/acc-1", { headers: seeded(t) });
  t.is(masked.status, 200);
  t.like(masked.json, {
    accountId: "acc-1",
    phone: maskPhone(PHONE),
    balance: { amount: "-5.00", currency: "GBP" },
    qualifications: { "low-balance/GBP": 1, "overdrawn/GBP": 1 },
  });
  t.regex(masked.headers.get("x-position") ?? "", /^[0-9a-f]{16}-[0-9a-f]{16}$/);
  const shown = await get(t.context.queryUrl, "/accounts/acc-1", { key: KEYS.pii, headers: seeded(t) });
  t.is(shown.json.phone, PHONE);
  const admin = await get(t.context.queryUrl, "/accounts/acc-1", { key: KEYS.admin, headers: seeded(t) });
  t.is(admin.json.phone, PHONE, "admin may do all");
  const missing = await get(t.context.queryUrl, "/accounts/nobody", { headers: seeded(t) });
  t.is(missing.status, 404);
  t.is(missing.type, "application/problem+json");
});

test("API keys: none is 401, a key without queries:read is 403", async (t) => {
  const none = await get(t.context.queryUrl, "/accounts/acc-1", { key: null });
  t.is(none.status, 401);
  t.is(none.json.code, "unauthenticated");
  const wrong = await get(t.context.queryUrl, "/accounts/acc-1", { key: KEYS.writer });
  t.is(wrong.status, 403);
  t.is(wrong.json.requiredScope, "queries:read");
  const bogus = await get(t.context.queryUrl, "/accounts/acc-1", { key: "not-a-configured-key-at-all" });
  t.is(bogus.status, 401);
  t.like(bogus.json, { code: "invalid_api_key", title: "The API key is not valid" });
});

test("a control character in a path segment or a filter is a 400 naming it, not a 500 from PostgreSQL", async (t) => {
  for (const [path, field] of [
    ["/accounts/%00", "path"],
    ["/notifications/x%00", "path"],
    ["/accounts/acc%7F1", "path"],
    ["/notifications?accountId=%00", "query.accountId"],
    ["/qualifications?ruleId=low%0Abalance", "query.ruleId"],
    ["/reports/providers?from=2026-11-24&to=2026-11-24&provider=sim%09a", "query.provider"],
  ] as const) {
    const answer = await get(t.context.queryUrl, path, { headers: seeded(t) });
    t.is(answer.status, 400, path);
    t.is(answer.type, "application/problem+json", path);
    t.is(answer.json.code, "invalid_request", path);
    t.deepEqual(
      (answer.json.errors as { field: string }[]).map((error) => error.field),
      [field],
      path,
    );
  }
});

test("a read-your-writes wait that runs out is logged as a warning without a stack, not as an error", async (t) => {
  const records: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info" },
    {
      write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>),
    },
  );
  const app = createQueryApi({
    db: t.context.db,
    readSchema: t.context.schemas.read,
    positions: new LivePositions(t.context.db, t.context.schemas),
    cache: new MemoryQueryCache(),
    apiKeys: new ApiKeys([{ name: "dashboard", sha256: hashApiKey(KEYS.reader), scopes: ["queries:read"] }]),
    logger,
    routes: queryRoutes,
    readYourWritesTimeoutMs: 50,
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const answer = await get(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      "/accounts/acc-1",
      {
        headers: { "x-min-position": "7fffffffffffffff-0000000000000000" },
      },
    );
    t.is(answer.status, 503);
    t.is(answer.json.code, "unavailable");
    t.deepEqual(
      records.map((record) => record.level),
      [40],
      "one warning",
    );
    t.like(records[0], { code: "unavailable", path: "/accounts/acc-1" });
    t.false("err" in (records[0] ?? {}), "no error object, so no stack");
  } finally {
    server.close();
  }
});

test("GET /qualifications: filters by rule, status and account; keyset pages end cleanly", async (t) => {
  const all = await get(t.context.queryUrl, "/qualifications", { headers: seeded(t) });
  t.is(all.status, 200);
  const items = all.json.items as {
    accountId: string;
    ruleId: string;
    status: string;
    episode: number;
    position: string;
  }[];
  // acc-1: low-balance + overdrawn; acc-2: low-balance (ended at 200.00), then again (episode 2).
  t.deepEqual(
    items.map((item) => `${item.accountId}/${item.ruleId}/${item.episode}/${item.status}`),
    [
      "acc-1/low-balance/1/active",
      "acc-1/overdrawn/1/active",
      "acc-2/low-balance/1/ended",
      "acc-2/low-balance/2/active",
    ].sort(
      (a, b) =>
        items.findIndex((i) => `${i.accountId}/${i.ruleId}/${i.episode}/${i.status}` === a) -
        items.findIndex((i) => `${i.accountId}/${i.ruleId}/${i.episode}/${i.status}` === b),
    ),
  );
  t.is(all.json.next, null);
  const byRule = await get(t.context.queryUrl, "/qualifications?ruleId=overdrawn", { headers: seeded(t) });
  t.deepEqual(
    (byRule.json.items as { accountId: string }[]).map((item) => item.accountId),
    ["acc-1"],
  );
  const ended = await get(t.context.queryUrl, "/qualifications?status=ended", { headers: seeded(t) });
  t.deepEqual(
    (ended.json.items as { accountId: string }[]).map((item) => item.accountId),
    ["acc-2"],
  );
  const ofAccount = await get(t.context.queryUrl, "/qualifications?accountId=acc-2&status=active", {
    headers: seeded(t),
  });
  t.is((ofAccount.json.items as unknown[]).length, 1);
  // Pages of one: each page's `next` leads to the next, the last has none, nothing repeats.
  const seen: string[] = [];
  let after: string | null = null;
  for (let page = 0; page < 10; page += 1) {
    const query: string = `/qualifications?limit=1${after === null ? "" : `&after=${after}`}`;
    const answer = await get(t.context.queryUrl, query, { headers: seeded(t) });
    const pageItems = answer.json.items as { position: string }[];
    seen.push(...pageItems.map((item) => item.position));
    after = answer.json.next as string | null;
    if (after === null) break;
  }
  t.deepEqual(
    seen,
    items.map((item) => item.position),
  );
  const exact = await get(t.context.queryUrl, `/qualifications?limit=${items.length}`, {
    headers: seeded(t),
  });
  t.is(exact.json.next, null, "a page that holds exactly the rest has no next");
  const past = await get(t.context.queryUrl, `/qualifications?after=${items.at(-1)?.position ?? ""}`, {
    headers: seeded(t),
  });
  t.deepEqual(past.json.items, []);
  t.is(past.json.next, null);
});

test("bad filters answer 400 problem+json naming each field", async (t) => {
  const cases: [string, string][] = [
    ["/qualifications?status=maybe", "query.status"],
    ["/qualifications?limit=0", "query.limit"],
    ["/qualifications?limit=501", "query.limit"],
    ["/qualifications?limit=ten", "query.limit"],
    ["/qualifications?after=yesterday", "query.after"],
    ["/qualifications?colour=blue", "query"],
    ["/notifications?status=lost", "query.status"],
    ["/notifications?from=2026-11-25T00:00:00.000Z&to=2026-11-24T00:00:00.000Z", "query.from"],
    ["/notifications?from=tomorrow", "query.from"],
    ["/reports/funnel", "query.from"],
    ["/reports/funnel?from=2026-11-30&to=2026-11-01", "query.from"],
    ["/reports/funnel?from=2026-02-30&to=2026-03-01", "query.from"],
    ["/reports/funnel?from=2024-01-01&to=2026-01-01", "query.to"],
    ["/reports/funnel?from=2026-11-01&to=2026-11-30&messageClass=spam", "query.messageClass"],
    ["/reports/providers?from=2026-11-01&to=2026-11-30&format=xml", "query.format"],
    ["/accounts/acc-1?format=csv", "query.format"],
    ["/accounts/acc-1?minPosition=42", "query.minPosition"],
  ];
  for (const [path, field] of cases) {
    const answer = await get(t.context.queryUrl, path);
    t.is(answer.status, 400, path);
    t.is(answer.type, "application/problem+json", path);
    const errors = (answer.json.errors ?? []) as { field: string }[];
    t.true(
      errors.some((error) => error.field.startsWith(field)),
      `${path}: ${JSON.stringify(errors)}`,
    );
  }
  const twice = await get(
    t.context.queryUrl,
    "/accounts/acc-1?minPosition=0000000000000000-0000000000000000",
    {
      headers: { "x-min-position": "0000000000000000-0000000000000001" },
    },
  );
  t.is(twice.status, 400, "header and query parameter disagree");
});

test("GET /notifications/{id}: status, provider and the timeline; recipient and body only with pii:read", async (t) => {
  const { notificationId } = t.context;
  const masked = await get(t.context.queryUrl, `/notifications/${notificationId}`, { headers: seeded(t) });
  t.is(masked.status, 200);
  t.like(masked.json, {
    notificationId,
    accountId: "acc-1",
    status: "delivered",
    provider: "sim-a",
    recipient: maskPhone(PHONE),
    body: null,
  });
  const timeline = masked.json.timeline as { statusAfter: string }[];
  t.deepEqual(
    timeline.map((step) => step.statusAfter),
    ["requested", "submitting", "submitted", "delivered"],
  );
  const shown = await get(t.context.queryUrl, `/notifications/${notificationId}`, {
    key: KEYS.pii,
    headers: seeded(t),
  });
  t.is(shown.json.recipient, PHONE);
  t.regex(String(shown.json.body), /overdrawn/);
  t.is((await get(t.context.queryUrl, `/notifications/${randomUUID()}`, { headers: seeded(t) })).status, 404);
});

test("GET /notifications: filters by account, status and request time", async (t) => {
  const ids = async (query: string) =>
    (
      (await get(t.context.queryUrl, `/notifications${query}`, { headers: seeded(t) })).json.items as {
        notificationId: string;
      }[]
    ).map((item) => item.notificationId);
  const { notificationId } = t.context;
  t.is((await ids("")).length, 3);
  t.deepEqual(await ids("?accountId=acc-1"), [notificationId]);
  t.deepEqual(await ids("?accountId=acc-1&status=delivered"), [notificationId]);
  t.is((await ids("?accountId=acc-3&status=requested")).length, 2);
  t.deepEqual(await ids("?accountId=acc-2"), []);
  t.deepEqual(await ids("?status=failed"), []);
  t.is((await ids("?from=2026-11-24T08:00:00.000Z&to=2026-11-24T10:00:00.000Z")).length, 3);
  t.deepEqual(await ids("?from=2026-11-24T10:00:00.000Z"), []);
  // Keyset pages of one, of two (the last one short), and past the end.
  const all = await ids("");
  const pages: string[] = [];
  let after: string | null = null;
  do {
    const page: { json: Record<string, unknown> } = await get(
      t.context.queryUrl,
      `/notifications?limit=1${after === null ? "" : `&after=${after}`}`,
      { headers: seeded(t) },
    );
    pages.push(...(page.json.items as { notificationId: string }[]).map((item) => item.notificationId));
    after = page.json.next as string | null;
  } while (after !== null && pages.length < 10);
  t.deepEqual(pages, all);
  const twos = await get(t.context.queryUrl, "/notifications?limit=2", { headers: seeded(t) });
  t.is((twos.json.items as unknown[]).length, 2);
  const rest = await get(t.context.queryUrl, `/notifications?limit=2&after=${String(twos.json.next)}`, {
    headers: seeded(t),
  });
  t.is((rest.json.items as unknown[]).length, 1);
  t.is(rest.json.next, null);
  const list = await get(t.context.queryUrl, "/notifications", { headers: seeded(t) });
  t.is((list.json.items as { recipient: string }[])[0]?.recipient, maskPhone(PHONE));
});

test("GET /reports/funnel and /reports/providers: JSON and CSV over a day range", async (t) => {
  const funnel = await get(t.context.queryUrl, "/reports/funnel?from=2026-11-24&to=2026-11-24", {
    headers: seeded(t),
  });
  t.is(funnel.status, 200);
  const rows = funnel.json.rows as Record<string, unknown>[];
  const overdrawn = rows.find(
    (row) =>
      row.ruleId === "overdrawn" ||
      (row.ruleId === "" && row.messageClass === "service" && row.requested === 1),
  );
  t.truthy(overdrawn, JSON.stringify(rows));
  t.true(rows.some((row) => row.qualified !== 0));
  const csv = await get(t.context.queryUrl, "/reports/funnel?from=2026-11-24&to=2026-11-24&format=csv", {
    headers: seeded(t),
  });
  t.is(csv.status, 200);
  t.regex(csv.type, /^text\/csv/);
  t.regex(csv.headers.get("content-disposition") ?? "", /attachment; filename="funnel.csv"/);
  const lines = csv.text.trimEnd().split("\r\n");
  t.is(lines.length, rows.length + 1, "a header and one line per row");
  const providers = await get(t.context.queryUrl, "/reports/providers?from=2026-11-24&to=2026-11-24", {
    headers: seeded(t),
  });
  t.like((providers.json.rows as unknown[])[0], {
    provider: "sim-a",
    submitted: 1,
    delivered: 1,
    deliveryRate: 1,
  });
  const onlyOther = await get(
    t.context.queryUrl,
    "/reports/providers?from=2026-11-24&to=2026-11-24&provider=sim-b",
    { headers: seeded(t) },
  );
  t.deepEqual(onlyOther.json.rows, []);
  const empty = await get(t.context.queryUrl, "/reports/funnel?from=2025-01-01&to=2025-01-31&format=csv", {
    headers: seeded(t),
  });
  t.is(empty.text.trimEnd().split("\r\n").length, 1, "no rows: the header only");
});

test("ETag: the same answer again is 304 Not Modified; another key's masked answer differs", async (t) => {
  const first = await get(t.context.queryUrl, "/accounts/acc-2", { headers: seeded(t) });
  const etag = first.headers.get("etag") ?? "";
  t.regex(etag, /^"[A-Za-z0-9_-]+"$/);
  const again = await get(t.context.queryUrl, "/accounts/acc-2", {
    headers: { ...seeded(t), "if-none-match": etag },
  });
  t.is(again.status, 304);
  t.is(again.text, "");
  const pii = await get(t.context.queryUrl, "/accounts/acc-2", {
    key: KEYS.pii,
    headers: { ...seeded(t), "if-none-match": etag },
  });
  t.is(pii.status, 200, "unmasked content has another ETag");
});

test("read-your-writes: a query with the position a command returned sees that write, even after a cached answer", async (t) => {
  const cached = await get(t.context.queryUrl, "/accounts/acc-3", { headers: seeded(t) });
  t.like(cached.json, { balance: { amount: "500.00" } });
  const started = Date.now();
  for (let round = 0; round < 20; round += 1) {
    const amount = `${600 + round}.00`;
    const written = await post(t.context.commandUrl, "/accounts/acc-3/balances", {
      amount,
      currency: "GBP",
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: at(8, 10 + round),
    });
    const position = written.json.position as string;
    const byHeader = await get(t.context.queryUrl, "/accounts/acc-3", {
      headers: { "x-min-position": position },
    });
    t.is(byHeader.status, 200);
    t.like(byHeader.json, { balance: { amount } }, `round ${round} (header)`);
    t.true((byHeader.headers.get("x-position") ?? "") >= position);
    const byQuery = await get(t.context.queryUrl, `/accounts/acc-3?minPosition=${position}`);
    t.like(byQuery.json, { balance: { amount } }, `round ${round} (query parameter)`);
  }
  t.log(`20 rounds of command + 2 queries: ${Date.now() - started} ms`);
});

test("a position the read models cannot reach in time: 503 with Retry-After, never an older answer", async (t) => {
  const beyond = "7fffffffffffffff-0000000000000000";
  const started = Date.now();
  const system = await startTestSystem([{ name: "dashboard", key: KEYS.reader, scopes: ["queries:read"] }], {
    readYourWritesTimeoutMs: 300,
  });
  try {
    const answer = await get(system.queryUrl, "/accounts/acc-1", { headers: { "x-min-position": beyond } });
    t.is(answer.status, 503);
    t.is(answer.headers.get("retry-after"), "1");
    t.is(answer.json.code, "unavailable");
    t.true(Date.now() - started >= 300);
  } finally {
    await system.close();
  }
});

test("GET /openapi.json describes every route, without a key", async (t) => {
  const answer = await get(t.context.queryUrl, "/openapi.json", { key: null });
  t.is(answer.status, 200);
  const paths = Object.keys(answer.json.paths as Record<string, unknown>).sort();
  t.deepEqual(paths, [
    "/accounts",
    "/accounts/{id}",
    "/accounts/{id}/rule-states",
    "/accounts/{id}/timeline",
    "/notifications",
    "/notifications/{id}",
    "/qualifications",
    "/reports/funnel",
    "/reports/providers",
    "/rules/diff",
    "/rules/versions",
    "/rules/versions/{version}",
  ]);
  const funnel = (answer.json.paths as Record<string, { get: { parameters: { name: string }[] } }>)[
    "/reports/funnel"
  ];
  t.deepEqual(funnel?.get.parameters.map((parameter) => parameter.name).slice(0, 5), [
    "from",
    "to",
    "ruleId",
    "messageClass",
    "format",
  ]);
});

test("a database that does not answer: 503 with Retry-After, not a 500", async (t) => {
  const pool = new pg.Pool({
    connectionString: "postgres://tidemark:tidemark@127.0.0.1:1/tidemark",
    connectionTimeoutMillis: 500,
  });
  pool.on("error", () => undefined);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const schemas = projectionSchemas("nowhere");
  const app = createQueryApi({
    db,
    readSchema: schemas.read,
    positions: new LivePositions(db, schemas),
    cache: new MemoryQueryCache(),
    apiKeys: new ApiKeys([{ name: "dashboard", sha256: hashApiKey(KEYS.reader), scopes: ["queries:read"] }]),
    logger: pino({ level: "silent" }),
    routes: queryRoutes,
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const answer = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "/accounts/acc-1");
    t.is(answer.status, 503);
    t.is(answer.json.code, "unavailable");
    t.is(answer.headers.get("retry-after"), "1");
  } finally {
    server.close();
    await pool.end();
  }
});
