import { unreachable } from "../Decider.ts";

/**
 * Where a notification stands, normalised across providers. The lifecycle is forward-only:
 * `requested → (deferred) → submitting → submitted → sent → delivered | undelivered | rejected |
 * expired | failed`, with `suppressed` (a pre-send check said no) and `cancelled` (withdrawn before
 * sending, by us or by the provider) as other endings, and `unknown` when no final report came
 * within the validity period.
 */
export type NotificationStatus =
  | "requested"
  | "deferred"
  | "submitting"
  | "submitted"
  | "sent"
  | "unknown"
  | "delivered"
  | "undelivered"
  | "rejected"
  | "expired"
  | "failed"
  | "suppressed"
  | "cancelled";

/** Why the pre-send checks decided not to send: each "no" is recorded with its reason. */
export type SuppressionReason =
  "opted-out" | "frequency-cap" | "duplicate" | "balance-recovered" | "stale-balance";

export const SUPPRESSION_REASONS: readonly SuppressionReason[] = [
  "opted-out",
  "frequency-cap",
  "duplicate",
  "balance-recovered",
  "stale-balance",
];

export const NOTIFICATION_STATUSES: readonly NotificationStatus[] = [
  "requested",
  "deferred",
  "submitting",
  "submitted",
  "sent",
  "unknown",
  "delivered",
  "undelivered",
  "rejected",
  "expired",
  "failed",
  "suppressed",
  "cancelled",
];

/**
 * The position of a status in the lifecycle. A notification's rank never decreases; every final
 * status shares the top rank, so one final status can never replace another.
 */
export function statusRank(status: NotificationStatus): number {
  switch (status) {
    case "requested":
      return 0;
    case "deferred":
      return 1;
    case "submitting":
      return 2;
    case "submitted":
      return 3;
    case "sent":
      return 4;
    case "unknown":
      return 5;
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "suppressed":
    case "cancelled":
      return 6;
    default:
      return unreachable(status);
  }
}

/**
 * Final statuses absorb every later report. `unknown` is not final: the provider may still
 * confirm the outcome (see {@link canAdvance}).
 */
export function isFinal(status: NotificationStatus): boolean {
  return statusRank(status) === 6;
}

/**
 * Whether a notification may move from `from` to `to`: only forward (strictly higher rank), never
 * out of a final status, and out of `unknown` only to `delivered` or `undelivered` — a late
 * delivery receipt is the one report worth hearing after the validity period. Staying put is not
 * a move.
 */
export function canAdvance(from: NotificationStatus, to: NotificationStatus): boolean {
  if (from === "unknown") return to === "delivered" || to === "undelivered";
  if (isFinal(from)) return false;
  return statusRank(to) > statusRank(from);
}
