import type { SuppressionReason } from "../../domain/notification/NotificationStatus.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";

/**
 * The counters of a funnel cohort, in report order. A notification is counted once per stage it
 * reached; the outcomes (`delivered` … `expired`) are final statuses, and `unknown` (the validity
 * period lapsed with no final report) is moved to the real outcome when a late report arrives.
 */
export const FUNNEL_COUNTERS = [
  "requested",
  "suppressed_opted_out",
  "suppressed_frequency_cap",
  "suppressed_duplicate",
  "suppressed_balance_recovered",
  "suppressed_stale_balance",
  "deferred",
  "cancelled",
  "submitted",
  "delivered",
  "undelivered",
  "rejected",
  "failed",
  "expired",
  "unknown",
] as const;

export type FunnelCounter = (typeof FUNNEL_COUNTERS)[number];

/** The counter of each suppression reason: one column per reason. */
export const SUPPRESSED_COUNTER: Readonly<Record<SuppressionReason, FunnelCounter>> = {
  "opted-out": "suppressed_opted_out",
  "frequency-cap": "suppressed_frequency_cap",
  duplicate: "suppressed_duplicate",
  "balance-recovered": "suppressed_balance_recovered",
  "stale-balance": "suppressed_stale_balance",
};

/**
 * `reporting_funnel_counts`: one row per cohort and provider, keyed (day, rule_id, message_class,
 * provider).
 *
 * A notification's cohort is fixed when it is requested: the UTC date of its `requestedAt`
 * ("YYYY-MM-DD"), its rule id ('' when no rule caused it) and its message class. Every later count
 * goes to that cohort, whenever it happens, so a day's row answers "of the notifications requested
 * that day, how many got how far".
 *
 * `provider` is '' for the stages before a provider accepted the message (requested, suppressed,
 * deferred, cancelled by us); `submitted` and every outcome count under the provider of the attempt
 * that was accepted (`SmsSubmitted`), or that failed for good (a non-retryable
 * `SmsSubmissionFailed`, counted as `failed` but not as `submitted`). A failover (retryable failure
 * on A, then accepted by B) counts `submitted` once, under B. A cancellation the provider reports
 * after accepting counts as `cancelled` under that provider.
 */
export type FunnelCountsTable = {
  day: string;
  rule_id: string;
  message_class: MessageClass;
  provider: string;
} & Record<FunnelCounter, number>;
