import type { MessageClass } from "../../domain/values/MessageClass.ts";

/**
 * `reporting_delivery_latencies`: one row per delivered notification, in its cohort (see
 * `FunnelCountsTable`) and under its provider. Percentiles do not add up across rows, so the
 * reports compute p50/p95 from these rows at query time.
 */
export interface DeliveryLatenciesTable {
  notification_id: string;
  day: string;
  rule_id: string;
  message_class: MessageClass;
  provider: string;
  /** The delivery report's `reportedAt` minus the request's `requestedAt`; bigint, as text. */
  latency_ms: string;
}
