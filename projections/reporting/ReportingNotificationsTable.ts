import type { NotificationStatus } from "../../domain/notification/NotificationStatus.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";

/**
 * `reporting_notifications`: reporting's own memory of each notification, so that later events
 * know which cohort and provider to count under and whether they move the notification at all.
 * Not a report itself (the tracking read model answers questions about one notification).
 */
export interface ReportingNotificationsTable {
  notification_id: string;
  /** The cohort: UTC date of `requestedAt`, rule id ('' without a rule), message class. */
  day: string;
  rule_id: string;
  message_class: MessageClass;
  requested_at: string;
  /** Where the notification stands, as far as the events reporting reads tell. */
  status: NotificationStatus;
  /** Whose counts its submission and outcome are: '' until a provider accepted or failed it for good. */
  provider: string;
}
