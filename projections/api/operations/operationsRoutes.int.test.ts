import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import pg from "pg";
import { pino } from "pino";
import { handleCommand } from "../../../commands/handleCommand.ts";
import { validatedRuleset } from "../../../commands/api/ruleRoutes.ts";
import { loadRules, readRulesetFile } from "../../../commands/rules/loadRules.ts";
import { loadTemplates } from "../../../commands/templates/loadTemplates.ts";
import { DEFAULT_REFERENCE_TIME_BOUNDS } from "../../../domain/values/ReferenceTimeBounds.ts";
import { BacktestJobs } from "../../backtest/BacktestJobs.ts";
import { fixedRules } from "../../../domain/ruleset/RuleBook.ts";
import type { NotificationCommand } from "../../../domain/notification/NotificationCommand.ts";
import {
  notificationDecider,
  notificationStreamId,
} from "../../../domain/notification/notificationDecider.ts";
import { epochMsToInstant } from "../../../domain/values/Instant.ts";
import type { RecordedEvent } from "../../../gateways/eventStore/EventStore.ts";
import { deadLetterInbox } from "../../../gateways/fanout/DeadLetterInbox.ts";
import { DeadLetters } from "../../../gateways/fanout/DeadLetters.ts";
import { ApiKeys, hashApiKey } from "../../../http/ApiKeys.ts";
import { IdempotencyStore } from "../../../http/IdempotencyStore.ts";
import { closeServer, listenOnLoopback } from "../../../test/loopbackServer.ts";
import { TEST_DATABASE_URL } from "../../../test/postgresTestDatabase.ts";
import { startTestSystem, type TestSystem } from "../../../test/startTestSystem.ts";
import { trackingProjection } from "../../tracking/trackingProjection.ts";
import { allProjections } from "../../allProjections.ts";
import { RebuildJobs } from "../../runtime/RebuildJobs.ts";
import { createQueryApi } from "../createQueryApi.ts";
import { LivePositions } from "../LivePositions.ts";
import { MemoryQueryCache } from "../MemoryQueryCache.ts";
import { queryRoutes } from "../queryRoutes.ts";

interface Context extends TestSystem {
  /** The query API with the operations routes. */
  opsUrl: string;
  fanoutSchema: string;
  closeOps: () => Promise<void>;
  /** The last position the seed wrote: a read with it waits for the read models to pass it. */
  lastPosition: string;
}
const test = anyTest as TestFn<Context>;

const KEYS = {
  admin: "admin-key-0123456789abcdef",
  reader: "reader-key-0123456789abcdef",
  writer: "writer-key-0123456789abcdef",
};
const CONSUMER = "qualification-policy";
const NOW = Date.UTC(2026, 10, 24, 12);
const at = (hour: number, minute = 0) => epochMsToInstant(Date.UTC(2026, 10, 24, hour, minute));

interface Answer {
  status: number;
  type: string;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(
  url: string,
  path: string,
  options: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method: options.method ?? "GET",
    headers: {
      authorization: `Bearer ${options.key ?? KEYS.reader}`,
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    headers: response.headers,
    json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

const adminPost = (url: string, path: string, body?: unknown, idempotencyKey = randomUUID()) =>
  call(url, path, { method: "POST", key: KEYS.admin, body, headers: { "idempotency-key": idempotencyKey } });

async function requestNotification(t: { context: Context }, accountId: string): Promise<string> {
  const notificationId = randomUUID();
  const answer = await adminPost(t.context.commandUrl, "/notifications", {
    notificationId,
    accountId,
    messageClass: "service",
    templateId: "overdrawn",
    variables: { balance: "-£5.00" },
  });
  if (answer.status !== 201) throw new Error(JSON.stringify(answer.json));
  t.context.lastPosition = answer.json.position as string;
  return notificationId;
}

/** Runs notification commands as the SMS gateway and the tracking webhooks would. */
async function runNotification(
  t: { context: Context },
  notificationId: string,
  commands: readonly NotificationCommand[],
): Promise<void> {
  for (const command of commands) {
    const result = await handleCommand(
      t.context.store,
      notificationDecider,
      notificationStreamId(notificationId),
      command,
      { newEventId: randomUUID, metadata: { correlationId: "test", actor: "test" } },
    );
    if (result.outcome !== "accepted") throw new Error(JSON.stringify(result));
    t.context.lastPosition = result.position ?? t.context.lastPosition;
  }
}

/** An attempt started on `provider` at 10:`minute`. */
const started = (notificationId: string, attempt: number, provider: string, minute: number) =>
  ({ type: "StartSmsSubmission", data: { notificationId, attempt, provider, now: at(10, minute) } }) as const;

/** Attempt `attempt` refused by sim-a (retryable). */
const failedOnA = (notificationId: string, attempt: number, errorCode: string, minute: number) =>
  ({
    type: "RecordSmsSubmissionFailure",
    data: {
      notificationId,
      attempt,
      provider: "sim-a",
      retryable: true,
      errorCode,
      nextAttemptAt: at(10, minute + 1),
      now: at(10, minute),
    },
  }) as const;

/** Attempt `attempt` accepted by sim-b. */
const acceptedByB = (notificationId: string, attempt: number, minute: number) =>
  ({
    type: "RecordSmsSubmission",
    data: {
      notificationId,
      attempt,
      provider: "sim-b",
      providerMessageId: `SM-${notificationId}`,
      segments: 1,
      now: at(10, minute),
    },
  }) as const;

/** sim-b's delivery report (Twilio's statuses). */
const reportedByB = (notificationId: string, rawStatus: "delivered" | "undelivered", minute: number) =>
  ({
    type: "ReportSmsStatus",
    data: {
      notificationId,
      provider: "sim-b",
      dialect: "twilio",
      rawStatus,
      errorCode: rawStatus === "undelivered" ? "30003" : null,
      via: "webhook",
      reportedAt: at(10, minute),
    },
  }) as const;

async function startOperationsApi(system: TestSystem) {
  const logger = pino({ level: "silent" });
  const { database, db, schemas, store } = system;
  const fanoutSchema = `${database.schema}_fanout`;
  const rebuilds = new RebuildJobs({
    pool: database.pool,
    db,
    store,
    schemas,
    logger,
    batchSize: 20,
    progressEveryMs: 20,
  });
  await rebuilds.migrate();
  const deadLetters = deadLetterInbox({ pool: database.pool, schema: fanoutSchema });
  await deadLetters.migrate();
  const idempotency = new IdempotencyStore(database.pool, database.schema, logger);
  await idempotency.migrate();
  const templates = await loadTemplates();
  const backtests = new BacktestJobs({
    db,
    schema: schemas.runtime,
    store,
    actualRules: () => [],
    templates,
    bounds: DEFAULT_REFERENCE_TIME_BOUNDS,
    logger,
  });
  await backtests.migrate();
  const app = createQueryApi({
    db,
    readSchema: schemas.read,
    positions: new LivePositions(db, schemas),
    cache: new MemoryQueryCache(),
    apiKeys: new ApiKeys([
      { name: "ops", sha256: hashApiKey(KEYS.admin), scopes: ["admin"] },
      { name: "dashboard", sha256: hashApiKey(KEYS.reader), scopes: ["queries:read"] },
      { name: "core-banking", sha256: hashApiKey(KEYS.writer), scopes: ["balances:write"] },
    ]),
    logger,
    routes: queryRoutes,
    operations: {
      db,
      store,
      schemas,
      projections: allProjections,
      rebuilds,
      deadLetters,
      consumers: [CONSUMER, "sms-gateway"],
      rules: fixedRules(await loadRules()),
      idempotency,
      logger,
      clock: () => NOW,
      backtests: { jobs: backtests, parseCandidate: (document) => validatedRuleset(document, templates) },
    },
  });
  const { server, url } = await listenOnLoopback(app);
  return {
    url,
    fanoutSchema,
    close: async () => {
      await closeServer(server);
      await rebuilds.stop();
      await backtests.stop();
    },
  };
}

test.before(async (t) => {
  const system = await startTestSystem([
    { name: "ops", key: KEYS.admin, scopes: ["admin"] },
    { name: "dashboard", key: KEYS.reader, scopes: ["queries:read"] },
  ]);
  const operations = await startOperationsApi(system);
  Object.assign(t.context, system, {
    opsUrl: operations.url,
    fanoutSchema: operations.fanoutSchema,
    closeOps: operations.close,
  });
  const opened = await adminPost(system.commandUrl, "/accounts", {
    accountId: "acc-1",
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
  });
  if (opened.status !== 201) throw new Error(JSON.stringify(opened.json));
  t.context.lastPosition = opened.json.position as string;
});

test.after.always(async (t) => {
  await t.context.closeOps();
  await t.context.database.pool.query(`drop schema if exists "${t.context.fanoutSchema}" cascade`);
  await t.context.close();
});

/** Waits (bounded) until the tracking read model has passed everything the test wrote. */
async function trackingCaughtUp(t: { context: Context }, notificationId: string): Promise<void> {
  const answer = await call(t.context.opsUrl, `/notifications/${notificationId}`, {
    headers: { "x-min-position": t.context.lastPosition },
  });
  if (answer.status !== 200) throw new Error(JSON.stringify(answer.json));
}

async function poll(
  url: string,
  path: string,
  until: (answer: Answer) => boolean,
  timeoutMs = 20_000,
): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call(url, path);
    if (until(answer) || Date.now() > deadline) return answer;
    await sleep(10);
  }
}

test.serial("scopes: reading needs queries:read; rebuilding and requeueing need admin", async (t) => {
  const { opsUrl } = t.context;
  for (const path of ["/operations/read-models", "/operations/dead-letters", "/operations/providers"]) {
    t.is((await call(opsUrl, path)).status, 200, path);
    const writer = await call(opsUrl, path, { key: KEYS.writer });
    t.is(writer.status, 403, path);
    t.is(writer.json.requiredScope, "queries:read", path);
  }
  for (const path of [
    "/operations/read-models/tracking/rebuild",
    `/operations/dead-letters/${CONSUMER}/requeue`,
  ]) {
    const reader = await call(opsUrl, path, { method: "POST", body: { all: true } });
    t.is(reader.status, 403, path);
    t.is(reader.type, "application/problem+json");
    t.like(reader.json, { code: "forbidden", requiredScope: "admin" }, path);
  }
  t.is((await call(opsUrl, "/operations/rules", { key: "not-a-configured-key-at-all" })).status, 401);
});

test.serial("an unknown read model or rebuild is a 404", async (t) => {
  const unknown = await adminPost(t.context.opsUrl, "/operations/read-models/nope/rebuild");
  t.is(unknown.status, 404);
  t.is(unknown.type, "application/problem+json");
  t.regex(
    String(unknown.json.detail),
    /no read model nope; there are: accounts, qualification, tracking, reporting/,
  );
  const noRebuild = await call(t.context.opsUrl, `/operations/rebuilds/${randomUUID()}`);
  t.is(noRebuild.status, 404);
});

/** 100 events no read model reads: a rebuild reads them all the same (a batch of 20 at a time). */
async function appendNoise(t: { context: Context }): Promise<void> {
  const events = Array.from({ length: 100 }, (_, index) => ({
    id: randomUUID(),
    type: "TestNoise",
    data: { index },
    metadata: { correlationId: "test", actor: "test" },
  }));
  await t.context.store.append(`noise-${randomUUID()}`, "no_stream", events);
}

/**
 * Opens a transaction that holds an id: events appended after it are held back from every reader
 * (a rebuild reads up to them and waits there) until `release`.
 */
async function holdBackLaterEvents(): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await holder.connect();
  await holder.query("begin");
  await holder.query("select pg_current_xact_id()");
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await holder.query("rollback");
      await holder.end();
    },
  };
}

async function readModelOf(opsUrl: string, name: string) {
  const overview = await call(opsUrl, "/operations/read-models");
  return (overview.json.readModels as { name: string; status: string; builds: unknown[] }[]).find(
    (model) => model.name === name,
  );
}

const REBUILD_TRACKING = "/operations/read-models/tracking/rebuild";

test.serial(
  "a rebuild reports live progress, refuses a second, and finishes done with the read model answering throughout",
  async (t) => {
    const { opsUrl } = t.context;
    await appendNoise(t);
    const before = await requestNotification(t, "acc-1");
    await trackingCaughtUp(t, before);
    const held = await holdBackLaterEvents();
    try {
      const heldBack = await requestNotification(t, "acc-1");
      const idempotencyKey = randomUUID();
      const started = await adminPost(opsUrl, REBUILD_TRACKING, undefined, idempotencyKey);
      t.is(started.status, 202);
      const { rebuildId, statusUrl } = started.json as { rebuildId: string; statusUrl: string };
      t.like(started.json, { name: "tracking", statusUrl: `/operations/rebuilds/${rebuildId}` });
      t.is(started.headers.get("location"), statusUrl);
      const replayed = await adminPost(opsUrl, REBUILD_TRACKING, undefined, idempotencyKey);
      t.is(replayed.status, 202, "the same Idempotency-Key gets the first answer");
      t.is(replayed.json.rebuildId, rebuildId);
      const second = await adminPost(opsUrl, REBUILD_TRACKING);
      t.is(second.status, 409);
      t.like(second.json, { code: "refused", reason: "rebuild_running", rebuildId, statusUrl });

      const running = await poll(opsUrl, statusUrl, (answer) => Number(answer.json.processed) > 100);
      t.like(running.json, { rebuildId, name: "tracking", status: "running", finishedAt: null, error: null });
      const { processed, total, percent } = running.json as {
        processed: number;
        total: number;
        percent: number;
      };
      t.true(processed > 100 && processed < total, `${processed} of ${total} read while held`);
      t.true(percent > 0 && percent < 100);
      const rebuilding = await readModelOf(opsUrl, "tracking");
      t.is(rebuilding?.status, "rebuilding");
      t.is(rebuilding?.builds.length, 2, "the live build and the one filling");
      t.is((await call(opsUrl, `/notifications/${before}`)).status, 200, "the live read model answers");

      await held.release();
      const done = await poll(opsUrl, statusUrl, (answer) => answer.json.status !== "running", 60_000);
      t.like(done.json, { status: "done", percent: 100, error: null });
      t.true(Number(done.json.processed) > processed, "the numbers moved on");
      t.true(Number(done.json.processed) >= total);
      t.not(done.json.finishedAt, null);
      await trackingCaughtUp(t, heldBack);
      t.is((await call(opsUrl, `/notifications/${before}`)).status, 200, "the rebuilt read model answers");
      t.like(await readModelOf(opsUrl, "tracking"), { status: "live", lastError: null });
    } finally {
      await held.release();
    }
  },
);

test.serial(
  "GET /operations/read-models: every read model live, with its checkpoint, lag and the log's head",
  async (t) => {
    const notificationId = await requestNotification(t, "acc-1");
    await trackingCaughtUp(t, notificationId);
    const answer = await call(t.context.opsUrl, "/operations/read-models");
    t.is(answer.status, 200);
    t.is(answer.headers.get("cache-control"), "no-store");
    t.regex(String(answer.json.eventLogHead), /^[0-9a-f]{16}-[0-9a-f]{16}$/);
    const models = answer.json.readModels as {
      name: string;
      version: number;
      status: string;
      liveBuild: { checkpoint: string; lagEvents: number };
      lastError: unknown;
    }[];
    t.deepEqual(
      models.map((model) => model.name),
      allProjections.map((projection) => projection.name),
    );
    const tracking = models.find((model) => model.name === "tracking");
    t.like(tracking, { version: trackingProjection.version, status: "live", lastError: null });
    t.true(tracking !== undefined && tracking.liveBuild.checkpoint >= t.context.lastPosition);
    t.is(tracking?.liveBuild.lagEvents, 0);
  },
);

test.serial(
  "dead letters: listed with their event, requeued by id, unknown consumers and bodies refused",
  async (t) => {
    const { opsUrl, database, fanoutSchema } = t.context;
    const eventId = randomUUID();
    let event: RecordedEvent | undefined;
    for await (const first of t.context.store.readAll(undefined, { maxCount: 1 })) event = first;
    if (event === undefined) throw new Error("no event to dead-letter");
    await new DeadLetters(database.pool, fanoutSchema).record(CONSUMER, { ...event, id: eventId }, 5, "boom");
    const listed = await call(opsUrl, `/operations/dead-letters?consumer=${CONSUMER}`);
    t.is(listed.status, 200);
    t.like((listed.json.items as unknown[])[0], {
      consumer: CONSUMER,
      eventId,
      eventType: event.type,
      streamId: event.streamId,
      error: "boom",
      attempts: 5,
      requeuedAt: null,
    });
    t.deepEqual((await call(opsUrl, "/operations/dead-letters?consumer=sms-gateway")).json.items, []);
    t.is((await call(opsUrl, "/operations/dead-letters?limit=0")).status, 400);

    t.is((await adminPost(opsUrl, "/operations/dead-letters/nobody/requeue", { all: true })).status, 404);
    const badBody = await adminPost(opsUrl, `/operations/dead-letters/${CONSUMER}/requeue`, {
      eventIds: ["x"],
    });
    t.is(badBody.status, 400);
    t.is(badBody.json.code, "invalid_request");
    const other = await adminPost(opsUrl, `/operations/dead-letters/${CONSUMER}/requeue`, {
      eventIds: [randomUUID()],
    });
    t.deepEqual(other.json, { requeued: 0 });
    const requeued = await adminPost(opsUrl, `/operations/dead-letters/${CONSUMER}/requeue`, {
      eventIds: [eventId],
    });
    t.is(requeued.status, 200);
    t.deepEqual(requeued.json, { requeued: 1 });
    const after = await call(opsUrl, "/operations/dead-letters");
    const [letter] = after.json.items as { eventId: string; requeuedAt: string | null }[];
    t.is(letter?.eventId, eventId);
    t.not(letter?.requeuedAt, null, "marked for its consumer, which handles it within seconds");
  },
);

test.serial(
  "GET /operations/providers: attempts, failures, failovers and outcomes per provider",
  async (t) => {
    // 1: fails on sim-a, fails over to sim-b, delivered. 2: fails on sim-a twice (a retry on the
    // same provider, not a failover). 3: sim-b, undelivered.
    const first = await requestNotification(t, "acc-1");
    await runNotification(t, first, [
      started(first, 1, "sim-a", 1),
      failedOnA(first, 1, "30001", 1),
      started(first, 2, "sim-b", 2),
      acceptedByB(first, 2, 2),
      reportedByB(first, "delivered", 3),
    ]);
    const second = await requestNotification(t, "acc-1");
    await runNotification(t, second, [
      started(second, 1, "sim-a", 4),
      failedOnA(second, 1, "30002", 4),
      started(second, 2, "sim-a", 5),
      failedOnA(second, 2, "30005", 5),
    ]);
    const third = await requestNotification(t, "acc-1");
    await runNotification(t, third, [
      started(third, 1, "sim-b", 6),
      acceptedByB(third, 1, 6),
      reportedByB(third, "undelivered", 7),
    ]);
    await trackingCaughtUp(t, third);
    const answer = await call(t.context.opsUrl, "/operations/providers?hours=24");
    t.is(answer.status, 200);
    t.is(answer.json.since, epochMsToInstant(NOW - 24 * 3_600_000));
    const counts = { delivered: 0, undelivered: 0, accepted: 0, failed: 0, failovers: 0 };
    t.deepEqual(answer.json.providers, [
      {
        ...counts,
        provider: "sim-a",
        submissions: 3,
        failed: 3,
        failovers: 1,
        lastFailure: { errorCode: "30005", at: at(10, 5) },
      },
      {
        ...counts,
        provider: "sim-b",
        submissions: 2,
        accepted: 2,
        delivered: 1,
        undelivered: 1,
        lastFailure: null,
      },
    ]);
    const narrow = await call(t.context.opsUrl, "/operations/providers?hours=1");
    t.deepEqual(narrow.json.providers, [], "nothing in the last hour before noon");
    t.is((await call(t.context.opsUrl, "/operations/providers?hours=0")).status, 400);
  },
);

test.serial("GET /operations/rules: the rules loaded at start-up, money as decimal strings", async (t) => {
  const answer = await call(t.context.opsUrl, "/operations/rules");
  t.is(answer.status, 200);
  const rules = answer.json.rules as { id: string; currency: string }[];
  t.like(
    rules.find((rule) => rule.id === "low-balance" && rule.currency === "GBP"),
    {
      kind: "below",
      messageClass: "service",
      threshold: { amount: "100.00", currency: "GBP" },
      rearmAbove: { amount: "150.00", currency: "GBP" },
    },
  );
  t.like(
    rules.find((rule) => rule.id === "savings-offer" && rule.currency === "EUR"),
    { kind: "sustained-at-or-above", days: 30, threshold: { amount: "5000.00", currency: "EUR" } },
  );
});

test.serial("the OpenAPI document lists the operations paths", async (t) => {
  const answer = await call(t.context.opsUrl, "/openapi.json");
  const paths = answer.json.paths as Record<string, Record<string, { security: unknown }>>;
  for (const path of [
    "/operations/read-models",
    "/operations/read-models/{name}/rebuild",
    "/operations/rebuilds/{rebuildId}",
    "/operations/dead-letters",
    "/operations/dead-letters/{consumer}/requeue",
    "/operations/providers",
    "/operations/rules",
  ]) {
    t.truthy(paths[path], path);
  }
  t.deepEqual(paths["/operations/read-models/{name}/rebuild"]?.post?.security, [{ apiKey: ["admin"] }]);
});

test.serial(
  "POST /rules/backtests: rules:write only, the candidate validated as a rule set, from before to; 202 and Location, then its report as JSON and CSV",
  async (t) => {
    const { document } = await readRulesetFile(
      new URL("../../../commands/rules/defaultRules.yaml", import.meta.url),
    );
    const start = (body: unknown, key = KEYS.admin) =>
      call(t.context.opsUrl, "/rules/backtests", {
        method: "POST",
        key,
        body,
        headers: { "idempotency-key": randomUUID() },
      });
    t.is((await start({ document, from: "2026-11-01", to: "2026-12-01" }, KEYS.reader)).status, 403);
    const reversed = await start({ document, from: "2026-12-01", to: "2026-11-01" });
    t.is(reversed.status, 400);
    t.is((await start({ document, from: "yesterday", to: "2026-12-01" })).status, 400);
    const invalid = await start({
      document: { version: 1, rules: [{ id: "x" }] },
      from: "2026-11-01",
      to: "2026-12-01",
    });
    t.is(invalid.status, 422);
    t.regex(JSON.stringify(invalid.json["errors"]), /rule x: kind/);
    const started = await start({ document, from: "2026-11-01", to: "2027-01-01", comment: "as shipped" });
    t.is(started.status, 202);
    const location = started.headers.get("location") ?? "";
    t.regex(location, /^\/rules\/backtests\/[0-9a-f-]{36}$/);
    let answer = await call(t.context.opsUrl, location);
    for (let waited = 0; answer.json["status"] === "running" && waited < 20_000; waited += 100) {
      await sleep(100);
      answer = await call(t.context.opsUrl, location);
    }
    t.like(answer.json, { status: "done", requestedBy: "ops", comment: "as shipped" });
    t.true(Array.isArray((answer.json["report"] as { rows?: unknown } | null)?.rows));
    const csv = await fetch(`${t.context.opsUrl}${location}?format=csv`, {
      headers: { authorization: `Bearer ${KEYS.reader}` },
    });
    t.is(csv.status, 200);
    t.regex(csv.headers.get("content-type") ?? "", /^text\/csv/);
    t.regex(
      (await csv.text()).split("\r\n")[0] ?? "",
      /^day,rule,side,qualified,requested,suppressed_opted-out/,
    );
    t.is((await call(t.context.opsUrl, "/rules/backtests/not-a-uuid")).status, 400);
    t.is((await call(t.context.opsUrl, `/rules/backtests/${randomUUID()}`)).status, 404);
    const listed = await call(t.context.opsUrl, "/rules/backtests");
    t.true(
      (listed.json["backtests"] as { backtestId: string }[]).some((b) => location.endsWith(b.backtestId)),
    );
  },
);
