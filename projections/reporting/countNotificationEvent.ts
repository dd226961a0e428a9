import { unreachable } from "../../domain/Decider.ts";
import type { NotificationEvent } from "../../domain/notification/NotificationEvent.ts";
import { canAdvance } from "../../domain/notification/NotificationStatus.ts";
import type { ReportedStatus } from "../../domain/notification/providerStatusMapping.ts";
import { SUPPRESSED_COUNTER, type FunnelCounter } from "./FunnelCountsTable.ts";
import type { ReportingNotificationsTable } from "./ReportingNotificationsTable.ts";
import { utcDay } from "./utcDay.ts";

/** One counter of the notification's cohort moving, under `provider`. */
export interface CounterChange {
  readonly provider: string;
  readonly counter: FunnelCounter;
  readonly by: 1 | -1;
}

/** What one event did for reporting: the notification afterwards, and what it counted. */
export interface CountedEvent {
  /** The very object passed in when the event changed nothing, so the caller can skip writing it. */
  readonly notification: ReportingNotificationsTable;
  readonly changes: readonly CounterChange[];
  /** Requested→delivered latency in ms when this event delivered the notification, else null. */
  readonly deliveredAfterMs: number | null;
}

/**
 * Folds one notification event into reporting's record of that notification (pure). The lifecycle
 * is the domain's: status reports and validity lapses move it only forward (`canAdvance`), and one
 * that does not is absorbed, as the decider's `evolve` absorbs it — so each stage counts once, and
 * only `unknown` is ever taken back (by the late final report that replaces it).
 *
 * Anything else the decider would never have written (a second request, an event before the
 * request, a report before a provider accepted the message, a deferral after an attempt …) throws:
 * the counts would be wrong, and the projection must stop rather than skip.
 */
export function countNotificationEvent(
  notification: ReportingNotificationsTable | undefined,
  notificationId: string,
  event: NotificationEvent,
): CountedEvent {
  if (event.type === "NotificationRequested") {
    if (notification !== undefined) throw new Error(`notification ${notificationId} was requested twice`);
    const { requestedAt, rule, messageClass } = event.data;
    return counted(
      {
        notification_id: notificationId,
        day: utcDay(requestedAt, `notification ${notificationId}: requestedAt`),
        rule_id: rule?.ruleId ?? "",
        message_class: messageClass,
        requested_at: requestedAt,
        status: "requested",
        provider: "",
      },
      "requested",
    );
  }
  if (notification === undefined) {
    throw new Error(`notification ${notificationId} has a ${event.type} but was never requested`);
  }
  const { status } = notification;
  switch (event.type) {
    case "NotificationSuppressed":
      requireNotYetAccepted(notification, event.type);
      return counted({ ...notification, status: "suppressed" }, SUPPRESSED_COUNTER[event.data.reason]);
    case "NotificationDeferred":
      // Deferred again (a rate limit, then quiet hours): still one deferred notification.
      if (status === "deferred") return unchanged(notification);
      if (status !== "requested") throw cannotFollow(notification, event.type);
      return counted({ ...notification, status: "deferred" }, "deferred");
    case "NotificationCancelled":
      requireNotYetAccepted(notification, event.type);
      return counted({ ...notification, status: "cancelled" }, "cancelled");
    case "SmsSubmissionStarted":
      // A claim counts nothing; the projection does not subscribe to it.
      return unchanged(notification);
    case "SmsSubmitted":
      requireNotYetAccepted(notification, event.type);
      return counted({ ...notification, status: "submitted", provider: event.data.provider }, "submitted");
    case "SmsSubmissionFailed":
      requireNotYetAccepted(notification, event.type);
      return event.data.retryable
        ? { notification: { ...notification, status: "submitting" }, changes: [], deliveredAfterMs: null }
        : counted({ ...notification, status: "failed", provider: event.data.provider }, "failed");
    case "SmsStatusReported":
      return moveAfterAcceptance(notification, event.type, event.data.status, event.data.reportedAt);
    case "SmsValidityLapsed":
      return moveAfterAcceptance(notification, event.type, "unknown", null);
    default:
      return unreachable(event);
  }
}

/**
 * A provider report or a validity lapse: only for a message a provider accepted, only forward,
 * and counted under that provider.
 */
function moveAfterAcceptance(
  notification: ReportingNotificationsTable,
  eventType: NotificationEvent["type"],
  to: ReportedStatus,
  reportedAt: string | null,
): CountedEvent {
  const { status, provider } = notification;
  if (status === "requested" || status === "deferred" || status === "submitting") {
    throw cannotFollow(notification, eventType, "no provider has accepted it");
  }
  if (!canAdvance(status, to)) return unchanged(notification);
  const outcome = outcomeCounter(to);
  const changes: CounterChange[] = [
    ...(status === "unknown" ? [{ provider, counter: "unknown", by: -1 } as const] : []),
    ...(outcome === null ? [] : [{ provider, counter: outcome, by: 1 } as const]),
  ];
  const deliveredAfterMs =
    to === "delivered" && reportedAt !== null ? latencyMs(notification, reportedAt) : null;
  return { notification: { ...notification, status: to }, changes, deliveredAfterMs };
}

/** The counter a reported status lands in; null for the in-between statuses that count nothing. */
function outcomeCounter(status: ReportedStatus): FunnelCounter | null {
  switch (status) {
    case "submitted":
    case "sent":
      return null;
    case "unknown":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "cancelled":
      return status;
    default:
      return unreachable(status);
  }
}

function latencyMs(notification: ReportingNotificationsTable, reportedAt: string): number {
  utcDay(reportedAt, `notification ${notification.notification_id}: reportedAt`);
  // Both are canonical UTC text (requested_at was checked when the request was counted).
  return Date.parse(reportedAt) - Date.parse(notification.requested_at);
}

function unchanged(notification: ReportingNotificationsTable): CountedEvent {
  return { notification, changes: [], deliveredAfterMs: null };
}

function counted(notification: ReportingNotificationsTable, counter: FunnelCounter): CountedEvent {
  return {
    notification,
    changes: [{ provider: notification.provider, counter, by: 1 }],
    deliveredAfterMs: null,
  };
}

/** Before a provider accepted the message (or gave up on it), the pre-send stages may still happen. */
function requireNotYetAccepted(
  notification: ReportingNotificationsTable,
  eventType: NotificationEvent["type"],
): void {
  const { status } = notification;
  if (status !== "requested" && status !== "deferred" && status !== "submitting") {
    throw cannotFollow(notification, eventType);
  }
}

function cannotFollow(
  notification: ReportingNotificationsTable,
  eventType: NotificationEvent["type"],
  why?: string,
): Error {
  const because = why === undefined ? "" : ` (${why})`;
  return new Error(
    `notification ${notification.notification_id} is ${notification.status}: a ${eventType} cannot follow${because}`,
  );
}
