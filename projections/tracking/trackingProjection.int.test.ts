import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { Kysely, PostgresDialect, sql } from "kysely";
import type { NotificationCommand } from "../../domain/notification/NotificationCommand.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import { ruleNotificationId } from "../../domain/notification/ruleNotificationId.ts";
import { applyEvents } from "../runtime/applyEvents.ts";
import { epochMsToInstant, type Instant } from "../../domain/values/Instant.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import { handleCommand } from "../../commands/handleCommand.ts";
import { collect, event } from "../../gateways/eventStore/eventStoreContract.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import { maskPhone } from "../accounts/accountQueries.ts";
import { findNotification, listNotifications, type NotificationFilter } from "./trackingQueries.ts";
import type { TrackingTables } from "./TrackingTables.ts";
import { trackingProjection } from "./trackingProjection.ts";

const test = anyTest as TestFn<TestEventStore & { db: Kysely<TrackingTables>; schema: string }>;

const time = (hours: number, minutes = 0) => epochMsToInstant(Date.UTC(2026, 10, 24, 9 + hours, minutes));

const PHONE_1 = "+447911123456" as PhoneNumber;
const PHONE_2 = "+447911123457" as PhoneNumber;

/** One notification per path through the lifecycle, requested an hour apart in this order. */
const DELIVERED = ruleNotificationId("acc-1", "low-balance", 1);
const SUPPRESSED = "n-suppressed";
const FAILOVER = "n-failover";
const LATE = "n-late";
const CANCELLED = "n-cancelled";
const PENDING = "n-pending";
const ALL = [DELIVERED, SUPPRESSED, FAILOVER, LATE, CANCELLED, PENDING];

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  const { store, database } = t.context;
  const options = { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } };
  const run = async (command: NotificationCommand) => {
    const stream = notificationStreamId(command.data.notificationId);
    const outcome = await handleCommand(store, notificationDecider, stream, command, options);
    if (outcome.outcome !== "accepted") {
      throw new Error(`${command.type} on ${command.data.notificationId}: ${JSON.stringify(outcome)}`);
    }
  };
  const request = (
    notificationId: string,
    accountId: string,
    hour: number,
    extra: { recipient?: PhoneNumber; messageClass?: MessageClass; validHours?: number } = {},
  ) =>
    run({
      type: "RequestNotification",
      data: {
        notificationId,
        accountId,
        messageClass: extra.messageClass ?? "service",
        ...(notificationId === DELIVERED ? { rule: { ruleId: "low-balance", episode: 1 } } : {}),
        templateId: "low-balance",
        template: "Your balance is {{balance}}.",
        variables: { balance: "£42.10" },
        recipient: extra.recipient ?? PHONE_1,
        validUntil: time(hour + (extra.validHours ?? 24)),
        now: time(hour),
      },
    });
  const start = (notificationId: string, attempt: number, provider: string, now: Instant) =>
    run({ type: "StartSmsSubmission", data: { notificationId, attempt, provider, now } });
  const submitted = (notificationId: string, attempt: number, provider: string, now: Instant) =>
    run({
      type: "RecordSmsSubmission",
      data: {
        notificationId,
        attempt,
        provider,
        providerMessageId: `${provider}-${notificationId}`,
        segments: 1,
        now,
      },
    });
  const report = (
    notificationId: string,
    provider: string,
    dialect: "twilio" | "smpp",
    rawStatus: string,
    reportedAt: Instant,
  ) =>
    run({
      type: "ReportSmsStatus",
      data: { notificationId, provider, dialect, rawStatus, errorCode: null, via: "webhook", reportedAt },
    });

  await request(DELIVERED, "acc-1", 0);
  await request(SUPPRESSED, "acc-1", 1);
  await request(FAILOVER, "acc-2", 2, { recipient: PHONE_2 });
  await request(LATE, "acc-2", 3, { recipient: PHONE_2, validHours: 1 });
  await request(CANCELLED, "acc-1", 4);
  await request(PENDING, "acc-3", 5, { messageClass: "marketing" });

  await run({
    type: "DeferNotification",
    data: { notificationId: DELIVERED, until: time(0, 30), reason: "quiet-hours", now: time(0, 1) },
  });
  await start(DELIVERED, 1, "twilio", time(0, 30));
  await submitted(DELIVERED, 1, "twilio", time(0, 31));
  await report(DELIVERED, "twilio", "twilio", "sent", time(0, 32));
  await report(DELIVERED, "twilio", "twilio", "delivered", time(0, 33));

  await run({
    type: "SuppressNotification",
    data: { notificationId: SUPPRESSED, reason: "opted-out", now: time(1, 1) },
  });

  await start(FAILOVER, 1, "twilio", time(2, 1));
  await run({
    type: "RecordSmsSubmissionFailure",
    data: {
      notificationId: FAILOVER,
      attempt: 1,
      provider: "twilio",
      retryable: true,
      errorCode: "30008",
      nextAttemptAt: time(2, 5),
      now: time(2, 2),
    },
  });
  await start(FAILOVER, 2, "smpp-backup", time(2, 5));
  await submitted(FAILOVER, 2, "smpp-backup", time(2, 6));
  await report(FAILOVER, "smpp-backup", "smpp", "DELIVRD", time(2, 7));

  await start(LATE, 1, "twilio", time(3, 1));
  await submitted(LATE, 1, "twilio", time(3, 2));
  await run({ type: "ExpireToUnknown", data: { notificationId: LATE, now: time(4, 10) } });
  await report(LATE, "twilio", "twilio", "delivered", time(5));
  // The decider would drop this backward report; a log written under older rules may hold one.
  await store.append(notificationStreamId(LATE), "any", [
    event("SmsStatusReported", {
      status: "sent",
      rawStatus: "sent",
      errorCode: null,
      provider: "twilio",
      via: "poll",
      reportedAt: time(5, 1),
    }),
  ]);

  await run({
    type: "CancelNotification",
    data: { notificationId: CANCELLED, by: "ops-7", now: time(4, 1) },
  });

  t.context.schema = `${database.schema}_tracking`;
  t.context.db = new Kysely<TrackingTables>({ dialect: new PostgresDialect({ pool: database.pool }) });
  await applyProjection(database.pool, store, trackingProjection, t.context.schema, 1000);
});

test.after.always(async (t) => {
  const { schema } = t.context.database;
  await t.context.dispose([`${schema}_tracking`, `${schema}_tracking_one_by_one`]);
});

const find = (t: { context: { db: Kysely<TrackingTables>; schema: string } }, id: string, showPii = false) =>
  findNotification(t.context.db, t.context.schema, id, { showPii });

const steps = (timeline: readonly { type: string; statusBefore: string | null; statusAfter: string }[]) =>
  timeline.map((step) => `${step.type}: ${step.statusBefore ?? "-"} → ${step.statusAfter}`);

test("requested → deferred → submitting → submitted → sent → delivered, every step with its own time", async (t) => {
  const view = await find(t, DELIVERED);
  t.like(view, {
    notificationId: DELIVERED,
    accountId: "acc-1",
    messageClass: "service",
    rule: { ruleId: "low-balance", episode: 1 },
    templateId: "low-balance",
    status: "delivered",
    rawStatus: "delivered",
    errorCode: null,
    provider: "twilio",
    providerMessageId: `twilio-${DELIVERED}`,
    attempts: 1,
    segments: 1,
    providerSegments: 1,
    deferral: { reason: "quiet-hours", until: time(0, 30) },
    suppressionReason: null,
    requestedAt: time(0),
    validUntil: time(24),
    lastEventAt: time(0, 33),
  });
  t.deepEqual(steps(view?.timeline ?? []), [
    "NotificationRequested: - → requested",
    "NotificationDeferred: requested → deferred",
    "SmsSubmissionStarted: deferred → submitting",
    "SmsSubmitted: submitting → submitted",
    "SmsStatusReported: submitted → sent",
    "SmsStatusReported: sent → delivered",
  ]);
  t.deepEqual(
    view?.timeline.map((step) => [step.seq, step.at]),
    [
      [1, time(0)],
      [2, time(0, 1)],
      [3, time(0, 30)],
      [4, time(0, 31)],
      [5, time(0, 32)],
      [6, time(0, 33)],
    ],
  );
  t.like(view?.timeline[1], { reason: "quiet-hours", until: time(0, 30) });
  t.like(view?.timeline[3], { attempt: 1, provider: "twilio", providerMessageId: `twilio-${DELIVERED}` });
  t.like(view?.timeline[5], { rawStatus: "delivered", detail: "reported delivered via webhook" });
  t.is(view?.lastPosition, view?.timeline.at(-1)?.position);
  t.is(view?.position, view?.timeline[0]?.position);
});

test("a suppression keeps its reason; a cancellation says who; an untouched request stays requested", async (t) => {
  const suppressed = await find(t, SUPPRESSED);
  t.like(suppressed, { status: "suppressed", suppressionReason: "opted-out", attempts: 0, provider: null });
  t.deepEqual(steps(suppressed?.timeline ?? []), [
    "NotificationRequested: - → requested",
    "NotificationSuppressed: requested → suppressed",
  ]);
  t.like(suppressed?.timeline[1], { reason: "opted-out", at: time(1, 1) });

  const cancelled = await find(t, CANCELLED);
  t.like(cancelled, { status: "cancelled", lastEventAt: time(4, 1) });
  t.like(cancelled?.timeline[1], { type: "NotificationCancelled", detail: "cancelled by ops-7" });

  const pending = await find(t, PENDING);
  t.like(pending, {
    status: "requested",
    messageClass: "marketing",
    rule: null,
    deferral: null,
    rawStatus: null,
  });
  t.is(pending?.timeline.length, 1);
  t.is(await find(t, "never-requested"), undefined);
});

test("failover: a retryable failure on one provider, then delivery through another", async (t) => {
  const view = await find(t, FAILOVER);
  t.like(view, {
    status: "delivered",
    attempts: 2,
    provider: "smpp-backup",
    providerMessageId: `smpp-backup-${FAILOVER}`,
    rawStatus: "DELIVRD",
    errorCode: null,
  });
  t.deepEqual(steps(view?.timeline ?? []), [
    "NotificationRequested: - → requested",
    "SmsSubmissionStarted: requested → submitting",
    "SmsSubmissionFailed: submitting → submitting",
    "SmsSubmissionStarted: submitting → submitting",
    "SmsSubmitted: submitting → submitted",
    "SmsStatusReported: submitted → delivered",
  ]);
  t.like(view?.timeline[2], {
    attempt: 1,
    provider: "twilio",
    errorCode: "30008",
    until: time(2, 5),
    detail: "retryable",
  });
  t.like(view?.timeline[3], { attempt: 2, provider: "smpp-backup" });
});

test("unknown once the validity lapses, delivered by a late report, and deaf to a backward one", async (t) => {
  const view = await find(t, LATE);
  t.like(view, { status: "delivered", rawStatus: "delivered", lastEventAt: time(5, 1) });
  t.deepEqual(steps(view?.timeline ?? []), [
    "NotificationRequested: - → requested",
    "SmsSubmissionStarted: requested → submitting",
    "SmsSubmitted: submitting → submitted",
    "SmsValidityLapsed: submitted → unknown",
    "SmsStatusReported: unknown → delivered",
    "SmsStatusReported: delivered → delivered",
  ]);
  t.like(view?.timeline[3], { until: time(4), at: time(4, 10) });
  t.like(view?.timeline[5], { rawStatus: "sent", detail: "reported sent via poll" });
});

test("without PII the recipient is masked and body and variables are withheld", async (t) => {
  const hidden = await find(t, FAILOVER, false);
  t.like(hidden, { recipient: maskPhone(PHONE_2), body: null, variables: null });
  t.not(hidden?.recipient, PHONE_2);
  const shown = await find(t, FAILOVER, true);
  t.like(shown, { recipient: PHONE_2, body: "Your balance is £42.10.", variables: { balance: "£42.10" } });

  const { db, schema } = t.context;
  const listed = await listNotifications(db, schema, { limit: 10, showPii: false });
  t.true(
    listed.items.every(
      (item) => item.body === null && item.variables === null && /^\+44•{7}\d{3}$/.test(item.recipient),
    ),
  );
  const listedWithPii = await listNotifications(db, schema, { limit: 10, showPii: true });
  t.deepEqual(
    listedWithPii.items.map((item) => item.recipient),
    [PHONE_1, PHONE_1, PHONE_2, PHONE_2, PHONE_1, PHONE_1],
  );
  t.false("timeline" in (listed.items[0] ?? {}));
});

const ids = async (
  t: { context: { db: Kysely<TrackingTables>; schema: string } },
  filter: Omit<NotificationFilter, "limit" | "showPii">,
) =>
  (
    await listNotifications(t.context.db, t.context.schema, { ...filter, limit: 100, showPii: false })
  ).items.map((item) => item.notificationId);

test("filters by account, status and requested time (from inclusive, to exclusive), alone and together", async (t) => {
  t.deepEqual(await ids(t, {}), ALL);
  t.deepEqual(await ids(t, { accountId: "acc-1" }), [DELIVERED, SUPPRESSED, CANCELLED]);
  t.deepEqual(await ids(t, { status: "delivered" }), [DELIVERED, FAILOVER, LATE]);
  t.deepEqual(await ids(t, { status: "requested" }), [PENDING]);
  t.deepEqual(await ids(t, { requestedFrom: time(1), requestedTo: time(4) }), [SUPPRESSED, FAILOVER, LATE]);
  t.deepEqual(await ids(t, { requestedFrom: time(4) }), [CANCELLED, PENDING]);
  t.deepEqual(await ids(t, { requestedTo: time(0, 1) }), [DELIVERED]);
  t.deepEqual(await ids(t, { accountId: "acc-2", status: "delivered", requestedFrom: time(3) }), [LATE]);
  t.deepEqual(await ids(t, { status: "failed" }), []);
  t.deepEqual(await ids(t, { accountId: "acc-1", requestedFrom: time(5) }), []);
  await t.throwsAsync(ids(t, { requestedFrom: "2026-11-24T10:00:00Z" }), { instanceOf: RangeError });
});

test("pages follow request order: one at a time, an exact multiple, an empty page, a cursor past the end", async (t) => {
  const { db, schema } = t.context;
  const walk = async (limit: number, filter: Omit<NotificationFilter, "limit" | "showPii"> = {}) => {
    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const page = await listNotifications(db, schema, {
        ...filter,
        limit,
        showPii: false,
        ...(after === undefined ? {} : { after }),
      });
      pages.push(page.items.map((item) => item.notificationId));
      if (page.next !== undefined) t.is(page.items.at(-1)?.position, page.next);
      after = page.next;
    } while (after !== undefined);
    return pages;
  };
  t.deepEqual(
    await walk(1),
    ALL.map((id) => [id]),
  );
  t.deepEqual(await walk(3), [ALL.slice(0, 3), ALL.slice(3)]);
  t.deepEqual(await walk(6), [ALL]);
  t.deepEqual(await walk(4), [ALL.slice(0, 4), ALL.slice(4)]);
  t.deepEqual(await walk(2, { status: "delivered" }), [[DELIVERED, FAILOVER], [LATE]]);
  t.deepEqual(await walk(5, { status: "failed" }), [[]]);
  const last = (await listNotifications(db, schema, { limit: 100, showPii: false })).items.at(-1)?.position;
  t.deepEqual(await listNotifications(db, schema, { limit: 5, showPii: false, after: last ?? "" }), {
    items: [],
    next: undefined,
  });
  t.deepEqual(
    await listNotifications(db, schema, {
      limit: 5,
      showPii: false,
      after: "ffffffffffffffff-ffffffffffffffff",
    }),
    { items: [], next: undefined },
  );
  await t.throwsAsync(listNotifications(db, schema, { limit: 0, showPii: false }), {
    instanceOf: RangeError,
  });
});

test("batches of 1 and of 1000 build the same rows in both tables", async (t) => {
  const { database, store, schema, db } = t.context;
  const oneByOne = `${database.schema}_tracking_one_by_one`;
  await applyProjection(database.pool, store, trackingProjection, oneByOne, 1);
  const content = async (from: string) => ({
    notifications: (
      await sql`select * from ${sql.table(`${from}.notifications`)} order by notification_id`.execute(db)
    ).rows,
    transitions: (
      await sql`select * from ${sql.table(`${from}.notification_transitions`)} order by notification_id, seq`.execute(
        db,
      )
    ).rows,
  });
  const expected = await content(schema);
  t.is(expected.notifications.length, ALL.length);
  t.is(expected.transitions.length, 6 + 2 + 6 + 6 + 2 + 1);
  t.deepEqual(await content(oneByOne), expected);
});

test("an event for a notification never requested, or a request on another's stream, is an error naming it", async (t) => {
  const { store, database, dispose } = await openTestEventStore(2);
  const schema = `${database.schema}_tracking`;
  const db = new Kysely<TrackingTables>({ dialect: new PostgresDialect({ pool: database.pool }) });
  /** Applies one stream's events as one batch; the message of the error that stops them. */
  const failureOf = async (notificationId: string) => {
    const events = await collect(store.readStream(notificationStreamId(notificationId)));
    return t.throwsAsync(
      db.transaction().execute((trx) => applyEvents<TrackingTables>(trx, trackingProjection, events, schema)),
    );
  };
  try {
    await sql`create schema ${sql.id(schema)}`.execute(db);
    await trackingProjection.setUp(db, schema);
    await store.append(notificationStreamId("n-orphan"), "no_stream", [
      event("SmsSubmitted", {
        attempt: 1,
        provider: "twilio",
        providerMessageId: "SM1",
        segments: 1,
        at: time(0),
      }),
    ]);
    const [requested] = await collect(t.context.store.readStream(notificationStreamId(DELIVERED)));
    await store.append(notificationStreamId("n-elsewhere"), "no_stream", [
      event("NotificationRequested", requested!.data),
    ]);
    t.is(
      (await failureOf("n-orphan")).message,
      "notification n-orphan has a SmsSubmitted but was never requested",
    );
    t.is((await failureOf("n-elsewhere")).message, `notification n-elsewhere was requested as ${DELIVERED}`);
  } finally {
    await dispose([schema]);
  }
});
