import type { Kysely } from "kysely";
import { unreachable } from "../../domain/Decider.ts";
import {
  NOTIFICATION_EVENT_TYPES,
  type NotificationEvent,
} from "../../domain/notification/NotificationEvent.ts";
import type { NotificationRequest, NotificationState } from "../../domain/notification/NotificationState.ts";
import { notificationDecider } from "../../domain/notification/notificationDecider.ts";
import type { Instant } from "../../domain/values/Instant.ts";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import { insertRows, upsertRows } from "../runtime/writeRows.ts";
import type {
  NotificationLifecycle,
  NotificationsTable,
  NotificationTransitionsTable,
  RequestedNotificationState,
  TrackingTables,
} from "./TrackingTables.ts";

/** A notification's row with the domain state it stands for (rebuilt from the row once per batch). */
interface TrackedNotification {
  readonly row: NotificationsTable;
  readonly state: RequestedNotificationState;
}

/**
 * The tracking read model: per notification its status (normalised by the domain's own `evolve`,
 * so the lifecycle rules live in one place) beside what the provider said, and a timeline with one
 * transition per event.
 */
export const trackingProjection: Projection<TrackingTables> = {
  name: "tracking",
  // Version 2: indexes for the console's rule and provider filters.
  version: 2,
  eventTypes: new Set<string>(NOTIFICATION_EVENT_TYPES),
  tables: ["notifications", "notification_transitions"],
  async setUp(db, schema) {
    await db.schema
      .withSchema(schema)
      .createTable("notifications")
      .ifNotExists()
      .addColumn("notification_id", "text", (col) => col.primaryKey())
      .addColumn("account_id", "text", (col) => col.notNull())
      .addColumn("message_class", "text", (col) => col.notNull())
      .addColumn("rule_id", "text")
      .addColumn("rule_episode", "integer")
      .addColumn("template_id", "text", (col) => col.notNull())
      .addColumn("variables", "jsonb", (col) => col.notNull())
      .addColumn("body", "text", (col) => col.notNull())
      .addColumn("encoding", "text", (col) => col.notNull())
      .addColumn("segments", "integer", (col) => col.notNull())
      .addColumn("recipient", "text", (col) => col.notNull())
      .addColumn("provider_segments", "integer")
      .addColumn("status", "text", (col) => col.notNull())
      .addColumn("raw_status", "text")
      .addColumn("error_code", "text")
      .addColumn("provider", "text")
      .addColumn("provider_message_id", "text")
      .addColumn("attempts", "integer", (col) => col.notNull())
      .addColumn("suppression_reason", "text")
      .addColumn("deferral_reason", "text")
      .addColumn("deferred_until", "text")
      .addColumn("requested_at", "text", (col) => col.notNull())
      .addColumn("valid_until", "text", (col) => col.notNull())
      .addColumn("last_event_at", "text", (col) => col.notNull())
      .addColumn("requested_position", "text", (col) => col.notNull().unique())
      .addColumn("last_position", "text", (col) => col.notNull())
      .addColumn("transitions", "integer", (col) => col.notNull())
      .addColumn("lifecycle", "jsonb", (col) => col.notNull())
      .execute();
    // One per filter of `listNotifications`; the equality filters end in the keyset column.
    for (const columns of [
      ["account_id", "requested_position"],
      ["status", "requested_position"],
      ["rule_id", "requested_position"],
      ["provider", "requested_position"],
      ["requested_at"],
    ]) {
      await db.schema
        .withSchema(schema)
        .createIndex(`notifications_${columns.join("_")}_idx`)
        .ifNotExists()
        .on("notifications")
        .columns(columns)
        .execute();
    }
    await db.schema
      .withSchema(schema)
      .createTable("notification_transitions")
      .ifNotExists()
      .addColumn("notification_id", "text", (col) => col.notNull())
      .addColumn("seq", "integer", (col) => col.notNull())
      .addColumn("position", "text", (col) => col.notNull())
      .addColumn("event_type", "text", (col) => col.notNull())
      .addColumn("at", "text", (col) => col.notNull())
      .addColumn("status_before", "text")
      .addColumn("status_after", "text", (col) => col.notNull())
      .addColumn("attempt", "integer")
      .addColumn("provider", "text")
      .addColumn("provider_message_id", "text")
      .addColumn("raw_status", "text")
      .addColumn("error_code", "text")
      .addColumn("reason", "text")
      .addColumn("until", "text")
      .addColumn("detail", "text")
      .addPrimaryKeyConstraint("notification_transitions_pkey", ["notification_id", "seq"])
      .execute();
  },
  async foldBatch(reader: Kysely<TrackingTables>, events: readonly EventWithoutMetadata[], schema: string) {
    const ids = [...new Set(events.map(notificationIdOf))];
    const stored = await reader
      .withSchema(schema)
      .selectFrom("notifications")
      .selectAll()
      .where("notification_id", "=", (eb) => eb.fn.any(eb.val(ids)))
      .execute();
    const tracked = new Map(stored.map((row) => [row.notification_id, { row, state: stateOf(row) }]));
    const changed = new Set<string>();
    const transitions: NotificationTransitionsTable[] = [];
    for (const recorded of events) {
      const notificationId = notificationIdOf(recorded);
      const next = evolveTrackedNotification(tracked.get(notificationId), notificationId, recorded);
      tracked.set(notificationId, next.tracked);
      changed.add(notificationId);
      transitions.push(next.transition);
    }
    return [
      ...upsertRows(
        "notifications",
        ["notification_id"],
        [...changed].flatMap((id) => tracked.get(id)?.row ?? []),
      ),
      ...insertRows("notification_transitions", transitions),
    ];
  },
};

function notificationIdOf(recorded: EventWithoutMetadata): string {
  return recorded.streamId.slice("notification-".length);
}

/** The notification after one event, and the transition it records. */
function evolveTrackedNotification(
  tracked: TrackedNotification | undefined,
  notificationId: string,
  recorded: EventWithoutMetadata,
): { tracked: TrackedNotification; transition: NotificationTransitionsTable } {
  const event = { type: recorded.type, data: recorded.data } as unknown as NotificationEvent;
  const before: NotificationState = tracked?.state ?? notificationDecider.initialState();
  const after = notificationDecider.evolve(before, event);
  if (after.status === "absent") {
    throw new Error(`notification ${notificationId} has a ${event.type} but was never requested`);
  }
  if (after.request.notificationId !== notificationId) {
    throw new Error(`notification ${notificationId} was requested as ${after.request.notificationId}`);
  }
  const row = evolveNotificationRow(
    tracked?.row ?? requestedRow(after.request, recorded.position),
    before.status !== after.status,
    after,
    event,
    recorded.position,
  );
  return {
    tracked: { row, state: after },
    transition: transitionOf(row.transitions, before, after, event, recorded),
  };
}

function requestedRow(request: NotificationRequest, position: string): NotificationsTable {
  return {
    notification_id: request.notificationId,
    account_id: request.accountId,
    message_class: request.messageClass,
    rule_id: request.rule?.ruleId ?? null,
    rule_episode: request.rule?.episode ?? null,
    template_id: request.templateId,
    variables: request.variables,
    body: request.body,
    encoding: request.encoding,
    segments: request.segments,
    recipient: request.recipient,
    provider_segments: null,
    status: "requested",
    raw_status: null,
    error_code: null,
    provider: null,
    provider_message_id: null,
    attempts: 0,
    suppression_reason: null,
    deferral_reason: null,
    deferred_until: null,
    requested_at: request.requestedAt,
    valid_until: request.validUntil,
    last_event_at: request.requestedAt,
    requested_position: position,
    last_position: position,
    transitions: 0,
    lifecycle: { status: "requested" },
  };
}

/** The row after one event; `moved`: the event changed the status. */
function evolveNotificationRow(
  row: NotificationsTable,
  moved: boolean,
  after: RequestedNotificationState,
  event: NotificationEvent,
  position: string,
): NotificationsTable {
  const touched: NotificationsTable = {
    ...row,
    status: after.status,
    lifecycle: lifecycleOf(after),
    last_event_at: timeOf(event),
    last_position: position,
    transitions: row.transitions + 1,
  };
  switch (event.type) {
    case "NotificationRequested":
      // The first request stands; a repeated one changes nothing but the timeline.
      return touched;
    case "NotificationSuppressed":
      return { ...touched, suppression_reason: event.data.reason };
    case "NotificationDeferred":
      return { ...touched, deferral_reason: event.data.reason, deferred_until: event.data.until };
    case "SmsSubmissionStarted":
      return {
        ...touched,
        // A message rendered again before this attempt (its balance had moved): what was sent.
        ...(event.data.restated === undefined
          ? {}
          : {
              variables: event.data.restated.variables,
              body: event.data.restated.body,
              encoding: event.data.restated.encoding,
              segments: event.data.restated.segments,
            }),
        attempts: event.data.attempt,
        provider: event.data.provider,
        provider_message_id: null,
        raw_status: null,
        error_code: null,
      };
    case "SmsSubmitted":
      return {
        ...touched,
        provider: event.data.provider,
        provider_message_id: event.data.providerMessageId,
        provider_segments: event.data.segments,
      };
    case "SmsSubmissionFailed":
      return { ...touched, provider: event.data.provider, error_code: event.data.errorCode };
    case "SmsStatusReported":
      // A report the lifecycle absorbs (late, duplicate, backward) leaves the raw status in step.
      return moved
        ? { ...touched, raw_status: event.data.rawStatus, error_code: event.data.errorCode }
        : touched;
    case "SmsValidityLapsed":
    case "NotificationCancelled":
      return touched;
    default:
      return unreachable(event);
  }
}

function transitionOf(
  seq: number,
  before: NotificationState,
  after: RequestedNotificationState,
  event: NotificationEvent,
  recorded: EventWithoutMetadata,
): NotificationTransitionsTable {
  const transition: NotificationTransitionsTable = {
    notification_id: after.request.notificationId,
    seq,
    position: recorded.position,
    event_type: event.type,
    at: timeOf(event),
    status_before: before.status === "absent" ? null : before.status,
    status_after: after.status,
    attempt: null,
    provider: null,
    provider_message_id: null,
    raw_status: null,
    error_code: null,
    reason: null,
    until: null,
    detail: null,
  };
  switch (event.type) {
    case "NotificationRequested":
      return transition;
    case "NotificationSuppressed":
      return { ...transition, reason: event.data.reason };
    case "NotificationDeferred":
      return { ...transition, reason: event.data.reason, until: event.data.until };
    case "SmsSubmissionStarted":
      return { ...transition, attempt: event.data.attempt, provider: event.data.provider };
    case "SmsSubmitted":
      return {
        ...transition,
        attempt: event.data.attempt,
        provider: event.data.provider,
        provider_message_id: event.data.providerMessageId,
      };
    case "SmsSubmissionFailed":
      return {
        ...transition,
        attempt: event.data.attempt,
        provider: event.data.provider,
        error_code: event.data.errorCode,
        until: event.data.nextAttemptAt ?? null,
        detail: event.data.retryable ? "retryable" : "not retryable",
      };
    case "SmsStatusReported":
      return {
        ...transition,
        provider: event.data.provider,
        raw_status: event.data.rawStatus,
        error_code: event.data.errorCode,
        detail: `reported ${event.data.status} via ${event.data.via}`,
      };
    case "SmsValidityLapsed":
      return { ...transition, until: event.data.validUntil };
    case "NotificationCancelled":
      return { ...transition, detail: `cancelled by ${event.data.by}` };
    default:
      return unreachable(event);
  }
}

/** The event's own time: when it happened as its writer saw it, never when it was recorded. */
function timeOf(event: NotificationEvent): Instant {
  switch (event.type) {
    case "NotificationRequested":
      return event.data.requestedAt;
    case "SmsStatusReported":
      return event.data.reportedAt;
    case "NotificationSuppressed":
    case "NotificationDeferred":
    case "SmsSubmissionStarted":
    case "SmsSubmitted":
    case "SmsSubmissionFailed":
    case "SmsValidityLapsed":
    case "NotificationCancelled":
      return event.data.at;
    default:
      return unreachable(event);
  }
}

function lifecycleOf(state: RequestedNotificationState): NotificationLifecycle {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped: the row's columns hold it
  const { request: _request, ...lifecycle } = state;
  return lifecycle;
}

function stateOf(row: NotificationsTable): RequestedNotificationState {
  return { ...row.lifecycle, request: requestOf(row) };
}

function requestOf(row: NotificationsTable): NotificationRequest {
  return {
    notificationId: row.notification_id,
    accountId: row.account_id,
    messageClass: row.message_class,
    ...(row.rule_id === null || row.rule_episode === null
      ? {}
      : { rule: { ruleId: row.rule_id, episode: row.rule_episode } }),
    templateId: row.template_id,
    variables: row.variables,
    body: row.body,
    encoding: row.encoding,
    segments: row.segments,
    recipient: row.recipient,
    validUntil: row.valid_until,
    requestedAt: row.requested_at,
  };
}
