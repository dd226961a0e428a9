import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { sql, type Kysely } from "kysely";
import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import type { DeferralReason, NotificationEvent } from "../../domain/notification/NotificationEvent.ts";
import type { SuppressionReason } from "../../domain/notification/NotificationStatus.ts";
import type { ReportedStatus } from "../../domain/notification/providerStatusMapping.ts";
import {
  epochMsToInstant,
  instantToEpochMs,
  parseInstant,
  type Instant,
} from "../../domain/values/Instant.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { JsonObject } from "../../gateways/eventStore/EventStore.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import {
  FUNNEL_COLUMNS,
  funnelReport,
  PROVIDER_COLUMNS,
  providerReport,
  type FunnelReportRow,
  type ProviderReportRow,
} from "./reportingQueries.ts";
import { reportingProjection } from "./reportingProjection.ts";
import type { ReportingTables } from "./ReportingTables.ts";

const test = anyTest as TestFn<
  TestEventStore & { db: Kysely<ReportingTables>; built: string; builtOneByOne: string }
>;

const D1 = "2026-11-23";
const D2 = "2026-11-24";
const D3 = "2026-11-25";
const HOUR = 3_600_000;

type Step = (requestedAt: number) => NotificationEvent;

const at = (ms: number): Instant => epochMsToInstant(ms);
const suppressed =
  (reason: SuppressionReason): Step =>
  (t) => ({ type: "NotificationSuppressed", data: { reason, at: at(t + 1) } });
const deferred =
  (reason: DeferralReason): Step =>
  (t) => ({ type: "NotificationDeferred", data: { until: at(t + HOUR), reason, at: at(t + 1) } });
const cancelled: Step = (t) => ({ type: "NotificationCancelled", data: { by: "operator-1", at: at(t + 2) } });
const submitted =
  (provider: string, attempt = 1): Step =>
  (t) => ({
    type: "SmsSubmitted",
    data: { attempt, provider, providerMessageId: `${provider}-${t}`, segments: 1, at: at(t + 10) },
  });
const submissionFailed =
  (provider: string, retryable: boolean, attempt = 1): Step =>
  (t) => ({
    type: "SmsSubmissionFailed",
    data: { attempt, provider, retryable, errorCode: "30001", at: at(t + 5) },
  });
const reported =
  (provider: string, status: ReportedStatus, afterMs: number): Step =>
  (t) => ({
    type: "SmsStatusReported",
    data: {
      status,
      rawStatus: status,
      errorCode: null,
      provider,
      via: "webhook",
      reportedAt: at(t + afterMs),
    },
  });
const validityLapsed: Step = (t) => ({
  type: "SmsValidityLapsed",
  data: { validUntil: at(t + 4 * HOUR), at: at(t + 4 * HOUR) },
});

/** A notification's stream and events: requested at `requestedAt` (canonical UTC) for `rule`, then `steps`. */
function notification(
  notificationId: string,
  requestedAt: string,
  rule: string | null,
  messageClass: MessageClass,
  ...steps: Step[]
): readonly [string, NotificationEvent[]] {
  const instant = parseInstant(requestedAt);
  if (instant === undefined) throw new Error(`bad instant ${requestedAt}`);
  const t = instantToEpochMs(instant);
  const request: NotificationEvent = {
    type: "NotificationRequested",
    data: {
      notificationId,
      accountId: "acc-1",
      messageClass,
      ...(rule === null ? {} : { rule: { ruleId: rule, episode: 1 } }),
      templateId: "t",
      variables: {},
      body: "Your balance is low",
      encoding: "GSM-7",
      segments: 1,
      recipient: "+447911123456" as PhoneNumber,
      validUntil: at(t + 4 * HOUR),
      requestedAt: instant,
    },
  };
  return [`notification-${notificationId}`, [request, ...steps.map((step) => step(t))]];
}

function qualified(
  ruleId: string,
  when: string,
  type: "AccountQualified" | "AccountDisqualified" = "AccountQualified",
): AccountEvent {
  return {
    type,
    data: { ruleId, ruleVersion: 1, episode: 1, balance: { minor: "-500", currency: "GBP" }, at: when },
  };
}

const metadata = { correlationId: "c", actor: "test" };

async function append(
  store: TestEventStore["store"],
  streamId: string,
  events: readonly (NotificationEvent | AccountEvent)[],
): Promise<void> {
  await store.append(
    streamId,
    "any",
    events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as JsonObject, metadata })),
  );
}

const LOW = "low-balance";
const SAVINGS = "savings-offer";

/**
 * The scenario. Latencies (ms) of delivered notifications:
 * D1 low-balance/service: n01 1000 (alpha), n02 3000 (alpha, delivered after midnight), n03 2000 (beta,
 * after failover), n06 5 h = 18 000 000 (alpha, late report after `unknown`).
 * D2 low-balance/service: n16 4000, n17 5000 (alpha). D2 no rule/service: n18 500 (beta).
 */
const NOTIFICATIONS: readonly (readonly [string, NotificationEvent[]])[] = [
  notification(
    "n01",
    `${D1}T08:00:00.000Z`,
    LOW,
    "service",
    submitted("alpha"),
    reported("alpha", "sent", 500),
    reported("alpha", "delivered", 1000),
  ),
  notification(
    "n02",
    `${D1}T23:59:59.000Z`,
    LOW,
    "service",
    submitted("alpha"),
    reported("alpha", "delivered", 3000),
  ),
  notification(
    "n03",
    `${D1}T10:00:00.000Z`,
    LOW,
    "service",
    submissionFailed("alpha", true),
    submitted("beta", 2),
    reported("beta", "delivered", 2000),
  ),
  notification("n04", `${D1}T11:00:00.000Z`, LOW, "service", suppressed("opted-out")),
  notification("n05", `${D1}T11:05:00.000Z`, LOW, "service", suppressed("frequency-cap")),
  notification(
    "n06",
    `${D1}T12:00:00.000Z`,
    LOW,
    "service",
    deferred("send-rate-limit"),
    deferred("quiet-hours"),
    submitted("alpha"),
    validityLapsed,
    reported("alpha", "delivered", 5 * HOUR),
  ),
  notification("n07", `${D1}T13:00:00.000Z`, LOW, "service", submitted("alpha"), validityLapsed),
  notification("n08", `${D1}T14:00:00.000Z`, LOW, "service", submissionFailed("beta", false)),
  notification(
    "n09",
    `${D1}T15:00:00.000Z`,
    LOW,
    "service",
    submitted("beta"),
    reported("beta", "undelivered", 60_000),
  ),
  notification("n10", `${D1}T16:00:00.000Z`, LOW, "service", cancelled),
  notification("n11", `${D1}T09:00:00.000Z`, SAVINGS, "marketing", suppressed("duplicate")),
  notification(
    "n12",
    `${D1}T09:30:00.000Z`,
    SAVINGS,
    "marketing",
    submitted("beta"),
    reported("beta", "rejected", 1000),
  ),
  notification(
    "n13",
    `${D1}T10:30:00.000Z`,
    SAVINGS,
    "marketing",
    submitted("alpha"),
    reported("alpha", "expired", 4 * HOUR),
    reported("alpha", "delivered", 5 * HOUR), // after a final status: absorbed
  ),
  notification("n14", `${D2}T08:00:00.000Z`, LOW, "service", suppressed("balance-recovered")),
  notification("n15", `${D2}T08:30:00.000Z`, LOW, "service", suppressed("stale-balance")),
  notification(
    "n16",
    `${D2}T09:00:00.000Z`,
    LOW,
    "service",
    submitted("alpha"),
    reported("alpha", "delivered", 4000),
  ),
  notification(
    "n17",
    `${D2}T10:00:00.000Z`,
    LOW,
    "service",
    submitted("alpha"),
    reported("alpha", "delivered", 5000),
  ),
  notification(
    "n18",
    `${D2}T09:00:00.000Z`,
    null,
    "service",
    submitted("beta"),
    reported("beta", "delivered", 500),
  ),
  notification("n19", `${D2}T10:00:00.000Z`, null, "service", deferred("quiet-hours"), cancelled),
  notification(
    "n20",
    `${D2}T11:00:00.000Z`,
    LOW,
    "service",
    submitted("alpha"),
    reported("alpha", "failed", 2000),
  ),
  notification(
    "n21",
    `${D2}T12:00:00.000Z`,
    LOW,
    "service",
    submitted("beta"),
    reported("beta", "cancelled", 1000),
  ),
];

const QUALIFICATIONS: readonly [string, AccountEvent][] = [
  ["acc-1", qualified(LOW, `${D1}T07:59:00.000Z`)],
  ["acc-2", qualified(LOW, `${D1}T09:00:00.000Z`)],
  ["acc-3", qualified(LOW, `${D1}T23:30:00.000Z`)],
  ["acc-4", qualified(SAVINGS, `${D1}T09:00:00.000Z`)],
  ["acc-5", qualified(LOW, `${D2}T07:00:00.000Z`)],
  ["acc-6", qualified(LOW, `${D2}T08:00:00.000Z`)],
  ["acc-7", qualified(SAVINGS, `${D2}T12:00:00.000Z`)],
  ["acc-8", qualified(LOW, `${D3}T00:00:00.000Z`)],
  ["acc-8", qualified(LOW, `${D3}T06:00:00.000Z`, "AccountDisqualified")], // not counted
];

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  const { store, database } = t.context;
  // Interleave the streams, so a batch holds several notifications at different stages.
  const streams = [
    ...NOTIFICATIONS,
    ...QUALIFICATIONS.map(([account, event]) => [`account-${account}`, [event]] as const),
  ];
  const longest = Math.max(...streams.map(([, events]) => events.length));
  for (let index = 0; index < longest; index += 1) {
    for (const [streamId, events] of streams) {
      const event = events[index];
      if (event !== undefined) await append(store, streamId, [event]);
    }
  }
  t.context.built = `${database.schema}_reporting`;
  t.context.builtOneByOne = `${database.schema}_reporting_single`;
  t.context.db = (await applyProjection(
    database.pool,
    store,
    reportingProjection,
    t.context.built,
    1000,
  )) as Kysely<ReportingTables>;
  await applyProjection(database.pool, store, reportingProjection, t.context.builtOneByOne, 1);
});

test.after.always(async (t) => {
  await t.context.dispose([t.context.built, t.context.builtOneByOne]);
});

const ZERO = {
  qualified: 0,
  requested: 0,
  suppressedOptedOut: 0,
  suppressedFrequencyCap: 0,
  suppressedDuplicate: 0,
  suppressedBalanceRecovered: 0,
  suppressedStaleBalance: 0,
  deferred: 0,
  cancelled: 0,
  submitted: 0,
  delivered: 0,
  undelivered: 0,
  rejected: 0,
  failed: 0,
  expired: 0,
  unknown: 0,
  deliveryRate: null,
  latencyP50Ms: null,
  latencyP95Ms: null,
} as const;

const FUNNEL: Readonly<Record<string, FunnelReportRow>> = {
  d1Low: {
    ...ZERO,
    day: D1,
    ruleId: LOW,
    messageClass: "service",
    qualified: 3,
    requested: 10,
    suppressedOptedOut: 1,
    suppressedFrequencyCap: 1,
    deferred: 1, // n06, deferred twice
    cancelled: 1,
    submitted: 6, // n03 once, under beta, despite the failover
    delivered: 4, // n06 moved from unknown
    undelivered: 1,
    failed: 1,
    unknown: 1,
    deliveryRate: 4 / 6,
    latencyP50Ms: 2500, // 1000, 2000, 3000, 18 000 000
    latencyP95Ms: 15_300_450, // 3000 + 0.85 × (18 000 000 − 3000)
  },
  d1Savings: {
    ...ZERO,
    day: D1,
    ruleId: SAVINGS,
    messageClass: "marketing",
    qualified: 1,
    requested: 3,
    suppressedDuplicate: 1,
    submitted: 2,
    rejected: 1,
    expired: 1,
    deliveryRate: 0,
  },
  d2NoRule: {
    ...ZERO,
    day: D2,
    ruleId: "",
    messageClass: "service",
    requested: 2,
    deferred: 1,
    cancelled: 1,
    submitted: 1,
    delivered: 1,
    deliveryRate: 1,
    latencyP50Ms: 500,
    latencyP95Ms: 500,
  },
  d2Low: {
    ...ZERO,
    day: D2,
    ruleId: LOW,
    messageClass: "service",
    qualified: 2,
    requested: 6,
    suppressedBalanceRecovered: 1,
    suppressedStaleBalance: 1,
    cancelled: 1, // n21, cancelled by the provider after accepting
    submitted: 4,
    delivered: 2,
    failed: 1,
    deliveryRate: 0.5,
    latencyP50Ms: 4500,
    latencyP95Ms: 4950,
  },
  d2Savings: { ...ZERO, day: D2, ruleId: SAVINGS, messageClass: "", qualified: 1 },
  d3Low: { ...ZERO, day: D3, ruleId: LOW, messageClass: "", qualified: 1 },
};

const PROVIDER_ZERO = {
  submitted: 0,
  delivered: 0,
  undelivered: 0,
  rejected: 0,
  failed: 0,
  expired: 0,
  unknown: 0,
  cancelled: 0,
  deliveryRate: null,
  latencyP50Ms: null,
  latencyP95Ms: null,
} as const;

const PROVIDERS: Readonly<Record<string, ProviderReportRow>> = {
  d1Alpha: {
    ...PROVIDER_ZERO,
    day: D1,
    provider: "alpha",
    submitted: 5, // n01 n02 n06 n07 n13
    delivered: 3,
    expired: 1,
    unknown: 1,
    deliveryRate: 0.6,
    latencyP50Ms: 3000, // 1000, 3000, 18 000 000
    latencyP95Ms: 16_200_300, // 3000 + 0.9 × (18 000 000 − 3000)
  },
  d1Beta: {
    ...PROVIDER_ZERO,
    day: D1,
    provider: "beta",
    submitted: 3, // n03 n09 n12
    delivered: 1,
    undelivered: 1,
    rejected: 1,
    failed: 1, // n08, refused for good: failed but never submitted
    deliveryRate: 1 / 3,
    latencyP50Ms: 2000,
    latencyP95Ms: 2000,
  },
  d2Alpha: {
    ...PROVIDER_ZERO,
    day: D2,
    provider: "alpha",
    submitted: 3,
    delivered: 2,
    failed: 1,
    deliveryRate: 2 / 3,
    latencyP50Ms: 4500,
    latencyP95Ms: 4950,
  },
  d2Beta: {
    ...PROVIDER_ZERO,
    day: D2,
    provider: "beta",
    submitted: 2,
    delivered: 1,
    cancelled: 1,
    deliveryRate: 0.5,
    latencyP50Ms: 500,
    latencyP95Ms: 500,
  },
};

const rows = <Row>(table: Readonly<Record<string, Row>>, ...names: string[]): Row[] =>
  names.map((name) => table[name]!);

test("the funnel report counts each notification once per stage in its request day's cohort, with qualifications, rates and latencies", async (t) => {
  const { db, built } = t.context;
  const report = await funnelReport(db, built, { from: D1, to: D3 });
  t.deepEqual(report, rows(FUNNEL, "d1Low", "d1Savings", "d2NoRule", "d2Low", "d2Savings", "d3Low"));
  t.deepEqual(Object.keys(report[0]!), [...FUNNEL_COLUMNS]);
});

test("the provider report counts submissions and outcomes under the provider that accepted or refused the message", async (t) => {
  const { db, built } = t.context;
  const report = await providerReport(db, built, { from: D1, to: D3 });
  t.deepEqual(report, rows(PROVIDERS, "d1Alpha", "d1Beta", "d2Alpha", "d2Beta"));
  t.deepEqual(Object.keys(report[0]!), [...PROVIDER_COLUMNS]);
});

test("the reports filter by day range, rule, message class and provider", async (t) => {
  const { db, built } = t.context;
  t.deepEqual(
    await funnelReport(db, built, { from: D2, to: D2 }),
    rows(FUNNEL, "d2NoRule", "d2Low", "d2Savings"),
  );
  t.deepEqual(
    await funnelReport(db, built, { from: D1, to: D3, ruleId: LOW }),
    rows(FUNNEL, "d1Low", "d2Low", "d3Low"),
  );
  t.deepEqual(await funnelReport(db, built, { from: D1, to: D3, ruleId: "" }), rows(FUNNEL, "d2NoRule"));
  t.deepEqual(
    await funnelReport(db, built, { from: D1, to: D3, messageClass: "marketing" }),
    rows(FUNNEL, "d1Savings"),
  );
  t.deepEqual(
    await funnelReport(db, built, { from: D2, to: D3, ruleId: LOW, messageClass: "service" }),
    rows(FUNNEL, "d2Low"),
  );
  t.deepEqual(
    await providerReport(db, built, { from: D1, to: D3, provider: "beta" }),
    rows(PROVIDERS, "d1Beta", "d2Beta"),
  );
  t.deepEqual(await providerReport(db, built, { from: D2, to: D2 }), rows(PROVIDERS, "d2Alpha", "d2Beta"));
});

test("a day range with no activity gives empty reports", async (t) => {
  const { db, built } = t.context;
  t.deepEqual(await funnelReport(db, built, { from: "2027-01-01", to: "2027-01-31" }), []);
  t.deepEqual(await providerReport(db, built, { from: "2027-01-01", to: "2027-01-31" }), []);
  t.deepEqual(await funnelReport(db, built, { from: D1, to: D3, ruleId: "no-such-rule" }), []);
});

test("applied one event per batch or a thousand per batch, the tables hold the same rows", async (t) => {
  const { db, built, builtOneByOne } = t.context;
  const content = async (schema: string, table: string) =>
    (
      await sql<{
        row: string;
      }>`select t::text as row from ${sql.table(`${schema}.${table}`)} t order by 1`.execute(db)
    ).rows.map((row) => row.row);
  for (const table of reportingProjection.tables) {
    const batched = await content(built, table);
    t.true(batched.length > 0, table);
    t.deepEqual(await content(builtOneByOne, table), batched, table);
  }
});

test("an event for a notification that was never requested stops the projection with a clear error", async (t) => {
  const other = await openTestEventStore(2);
  const schema = `${other.database.schema}_reporting`;
  try {
    await append(other.store, "notification-ghost", [submitted("alpha")(Date.UTC(2026, 10, 23))]);
    await t.throwsAsync(applyProjection(other.database.pool, other.store, reportingProjection, schema), {
      message: "notification ghost has a SmsSubmitted but was never requested",
    });
  } finally {
    await other.dispose([schema]);
  }
});
