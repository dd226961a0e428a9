import type { NotificationState } from "../../domain/notification/NotificationState.ts";
import type { NotificationStatus } from "../../domain/notification/NotificationStatus.ts";
import type { SmsEncoding } from "../../domain/notification/smsSegments.ts";
import type { Instant } from "../../domain/values/Instant.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";

/** A requested notification's state as the domain folds it. */
export type RequestedNotificationState = Exclude<NotificationState, { status: "absent" }>;

type WithoutRequest<State> = State extends { readonly request: unknown } ? Omit<State, "request"> : never;

/**
 * The domain's notification state without its request (which the row holds in columns): what the
 * next batch needs to go on folding with the domain's own `evolve`.
 */
export type NotificationLifecycle = WithoutRequest<NotificationState>;

/** One row per notification: where it stands, what was sent to whom, and why. */
export interface NotificationsTable {
  notification_id: string;
  account_id: string;
  message_class: MessageClass;
  /** The rule and episode that caused it; both null for a notification no rule caused. */
  rule_id: string | null;
  rule_episode: number | null;
  template_id: string;
  /** Template variables, rendered body and recipient: personal data, shown only with PII. */
  variables: Record<string, string>;
  body: string;
  encoding: SmsEncoding;
  /** Segments as we counted them when rendering. */
  segments: number;
  recipient: PhoneNumber;
  /** Segments as the provider counted them; null until a provider accepted the message. */
  provider_segments: number | null;
  status: NotificationStatus;
  /** Exactly as the provider sent them in its last answer; reset by each new attempt. */
  raw_status: string | null;
  error_code: string | null;
  /** Provider of the latest attempt, and the message id it gave, if it accepted the message. */
  provider: string | null;
  provider_message_id: string | null;
  /** Attempts started so far. */
  attempts: number;
  suppression_reason: string | null;
  /** The latest deferral (kept once sending went ahead). */
  deferral_reason: string | null;
  deferred_until: Instant | null;
  requested_at: Instant;
  valid_until: Instant;
  /** The time the latest event carries (its own time field, not when it was recorded). */
  last_event_at: Instant;
  /** Position of `NotificationRequested`: unique, the keyset pagination key. */
  requested_position: string;
  last_position: string;
  /** Rows in `notification_transitions`: the last `seq`. */
  transitions: number;
  lifecycle: NotificationLifecycle;
}

/** One row per event of a notification: its timeline, with the status before and after. */
export interface NotificationTransitionsTable {
  notification_id: string;
  /** 1 for `NotificationRequested`, then one more per event. */
  seq: number;
  position: string;
  event_type: string;
  /** The event's own time (`requestedAt`, `reportedAt` or `at`). */
  at: Instant;
  /** Null for the request itself. */
  status_before: NotificationStatus | null;
  /** Equal to `status_before` when the event moved nothing (a report the lifecycle absorbs). */
  status_after: NotificationStatus;
  attempt: number | null;
  provider: string | null;
  provider_message_id: string | null;
  raw_status: string | null;
  error_code: string | null;
  /** Suppression or deferral reason. */
  reason: string | null;
  /** Deferred until, a retry's next attempt time, or the validity that lapsed. */
  until: Instant | null;
  /** The rest, for people: who cancelled, whether a failure is retried, how a report came in. */
  detail: string | null;
}

export interface TrackingTables {
  notifications: NotificationsTable;
  notification_transitions: NotificationTransitionsTable;
}
