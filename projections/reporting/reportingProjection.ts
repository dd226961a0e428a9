import { sql, type CreateTableBuilder, type Kysely } from "kysely";
import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import type { NotificationEvent } from "../../domain/notification/NotificationEvent.ts";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import { addToCounters, insertRows, upsertRows } from "../runtime/writeRows.ts";
import { countNotificationEvent, type CounterChange } from "./countNotificationEvent.ts";
import type { DeliveryLatenciesTable } from "./DeliveryLatenciesTable.ts";
import { FUNNEL_COUNTERS, type FunnelCounter, type FunnelCountsTable } from "./FunnelCountsTable.ts";
import type { QualifiedCountsTable } from "./QualifiedCountsTable.ts";
import type { ReportingNotificationsTable } from "./ReportingNotificationsTable.ts";
import type { ReportingTables } from "./ReportingTables.ts";
import { utcDay } from "./utcDay.ts";

/** Every notification event but `SmsSubmissionStarted`: a claim counts nothing. */
const NOTIFICATION_TYPES: readonly NotificationEvent["type"][] = [
  "NotificationRequested",
  "NotificationSuppressed",
  "NotificationDeferred",
  "NotificationCancelled",
  "SmsSubmitted",
  "SmsSubmissionFailed",
  "SmsStatusReported",
  "SmsValidityLapsed",
];

const FUNNEL_KEY = ["day", "rule_id", "message_class", "provider"] as const;
const QUALIFIED_KEY = ["day", "rule_id"] as const;

type QualificationData = Extract<AccountEvent, { type: "AccountQualified" | "AccountDisqualified" }>["data"];

/**
 * The reporting read model: the daily funnel per rule, message class and provider (qualified →
 * requested → suppressed by reason / deferred / cancelled → submitted → outcome), with one latency
 * row per delivered notification for the percentiles. See `FunnelCountsTable` for which cohort and
 * provider each count goes to, `reportingQueries.ts` for the reports.
 *
 * A batch costs one read (the notifications it touches) and one write per table: counts are
 * summed in memory per cohort and added to the stored ones set-based (`addToCounters`), so the
 * counts come out the same whatever the batch size.
 */
export const reportingProjection: Projection<ReportingTables> = {
  name: "reporting",
  version: 1,
  eventTypes: new Set<string>(["AccountQualified", ...NOTIFICATION_TYPES]),
  tables: [
    "reporting_funnel_counts",
    "reporting_qualified_counts",
    "reporting_delivery_latencies",
    "reporting_notifications",
  ],
  async setUp(db, schema) {
    const tables = db.schema.withSchema(schema);
    let funnel: CreateTableBuilder<string, string> = tables
      .createTable("reporting_funnel_counts")
      .ifNotExists()
      .addColumn("day", "text", (col) => col.notNull())
      .addColumn("rule_id", "text", (col) => col.notNull())
      .addColumn("message_class", "text", (col) => col.notNull())
      .addColumn("provider", "text", (col) => col.notNull());
    for (const counter of FUNNEL_COUNTERS)
      funnel = funnel.addColumn(counter, "integer", (col) => col.notNull());
    await funnel.addPrimaryKeyConstraint("reporting_funnel_counts_pkey", [...FUNNEL_KEY]).execute();
    await tables
      .createTable("reporting_qualified_counts")
      .ifNotExists()
      .addColumn("day", "text", (col) => col.notNull())
      .addColumn("rule_id", "text", (col) => col.notNull())
      .addColumn("qualified", "integer", (col) => col.notNull())
      .addPrimaryKeyConstraint("reporting_qualified_counts_pkey", [...QUALIFIED_KEY])
      .execute();
    await tables
      .createTable("reporting_delivery_latencies")
      .ifNotExists()
      .addColumn("notification_id", "text", (col) => col.primaryKey())
      .addColumn("day", "text", (col) => col.notNull())
      .addColumn("rule_id", "text", (col) => col.notNull())
      .addColumn("message_class", "text", (col) => col.notNull())
      .addColumn("provider", "text", (col) => col.notNull())
      .addColumn("latency_ms", "bigint", (col) => col.notNull())
      .execute();
    await tables
      .createIndex("reporting_delivery_latencies_day")
      .ifNotExists()
      .on("reporting_delivery_latencies")
      .column("day")
      .execute();
    await tables
      .createTable("reporting_notifications")
      .ifNotExists()
      .addColumn("notification_id", "text", (col) => col.primaryKey())
      .addColumn("day", "text", (col) => col.notNull())
      .addColumn("rule_id", "text", (col) => col.notNull())
      .addColumn("message_class", "text", (col) => col.notNull())
      .addColumn("requested_at", "text", (col) => col.notNull())
      .addColumn("status", "text", (col) => col.notNull())
      .addColumn("provider", "text", (col) => col.notNull())
      .execute();
  },
  async foldBatch(reader: Kysely<ReportingTables>, events: readonly EventWithoutMetadata[], schema: string) {
    const ids = [
      ...new Set(events.filter((event) => event.type !== "AccountQualified").map(notificationIdOf)),
    ];
    const stored =
      ids.length === 0
        ? []
        : await reader
            .withSchema(schema)
            .selectFrom("reporting_notifications")
            .selectAll()
            .where("notification_id", "=", sql<string>`any(${ids})`)
            .execute();
    const notifications = new Map(stored.map((row) => [row.notification_id, row]));
    const changed = new Set<string>();
    const funnel = new Map<string, FunnelCountsTable>();
    const qualified = new Map<string, QualifiedCountsTable>();
    const latencies: DeliveryLatenciesTable[] = [];
    for (const recorded of events) {
      if (recorded.type === "AccountQualified") {
        countQualification(qualified, recorded);
        continue;
      }
      const notificationId = notificationIdOf(recorded);
      const event = { type: recorded.type, data: recorded.data } as unknown as NotificationEvent;
      const before = notifications.get(notificationId);
      const { notification, changes, deliveredAfterMs } = countNotificationEvent(
        before,
        notificationId,
        event,
      );
      if (notification !== before) {
        notifications.set(notificationId, notification);
        changed.add(notificationId);
      }
      for (const change of changes) countInFunnel(funnel, notification, change);
      if (deliveredAfterMs !== null) {
        latencies.push({
          notification_id: notificationId,
          day: notification.day,
          rule_id: notification.rule_id,
          message_class: notification.message_class,
          provider: notification.provider,
          latency_ms: String(deliveredAfterMs),
        });
      }
    }
    return [
      ...upsertRows(
        "reporting_notifications",
        ["notification_id"],
        [...changed].flatMap((id) => notifications.get(id) ?? []),
      ),
      ...addToCounters("reporting_funnel_counts", FUNNEL_KEY, [...funnel.values()]),
      ...addToCounters("reporting_qualified_counts", QUALIFIED_KEY, [...qualified.values()]),
      ...insertRows("reporting_delivery_latencies", latencies),
    ];
  },
};

function notificationIdOf(recorded: EventWithoutMetadata): string {
  const prefix = "notification-";
  if (!recorded.streamId.startsWith(prefix)) {
    throw new Error(`${recorded.type} on stream ${recorded.streamId}: not a notification stream`);
  }
  return recorded.streamId.slice(prefix.length);
}

/** Adds one to the batch's count for the qualification's rule on the UTC day of its `at`. */
function countQualification(
  qualified: Map<string, QualifiedCountsTable>,
  recorded: EventWithoutMetadata,
): void {
  const { ruleId, at } = recorded.data as unknown as QualificationData;
  const day = utcDay(at, `${recorded.streamId} AccountQualified at`);
  const key = JSON.stringify([day, ruleId]);
  const row = qualified.get(key) ?? { day, rule_id: ruleId, qualified: 0 };
  row.qualified += 1;
  qualified.set(key, row);
}

/** Adds a change to the batch's counts for the notification's cohort under the change's provider. */
function countInFunnel(
  funnel: Map<string, FunnelCountsTable>,
  notification: ReportingNotificationsTable,
  change: CounterChange,
): void {
  const { day, rule_id, message_class } = notification;
  const key = JSON.stringify([day, rule_id, message_class, change.provider]);
  const row = funnel.get(key) ?? {
    day,
    rule_id,
    message_class,
    provider: change.provider,
    ...zeroCounters(),
  };
  row[change.counter] += change.by;
  funnel.set(key, row);
}

function zeroCounters(): Record<FunnelCounter, number> {
  return Object.fromEntries(FUNNEL_COUNTERS.map((counter) => [counter, 0])) as Record<FunnelCounter, number>;
}
