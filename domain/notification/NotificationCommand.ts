import type { MessageClass } from "../values/MessageClass.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { DeferralReason, RuleCause, StatusReportChannel } from "./NotificationEvent.ts";
import type { SuppressionReason } from "./NotificationStatus.ts";
import type { StatusDialect } from "./providerStatusMapping.ts";
import type { TemplateVariables } from "./renderTemplate.ts";
import type { Instant } from "../values/Instant.ts";

/**
 * Ask for a notification. The caller loads the template text for `templateId` and formats the
 * variables; the decider renders and counts segments, so a bad template is refused here rather
 * than sent. For a rule-caused notification `notificationId` must be
 * `ruleNotificationId(accountId, rule.ruleId, rule.episode)`.
 */
export type RequestNotification = {
  readonly type: "RequestNotification";
  readonly data: {
    readonly notificationId: string;
    readonly accountId: string;
    readonly messageClass: MessageClass;
    readonly rule?: RuleCause;
    readonly templateId: string;
    readonly template: string;
    readonly variables: TemplateVariables;
    readonly recipient: PhoneNumber;
    readonly validUntil: Instant;
    readonly now: Instant;
  };
};

/** Record a pre-send check's "no" (consent, frequency cap, duplicate, recovered or stale balance). */
export type SuppressNotification = {
  readonly type: "SuppressNotification";
  readonly data: {
    readonly notificationId: string;
    readonly reason: SuppressionReason;
    readonly now: Instant;
  };
};

/** Hold sending until `until`; only before the first submission attempt. */
export type DeferNotification = {
  readonly type: "DeferNotification";
  readonly data: {
    readonly notificationId: string;
    readonly until: Instant;
    readonly reason: DeferralReason;
    readonly now: Instant;
  };
};

/**
 * Claim attempt `attempt` (1, then one more after each retryable failure) before calling `provider`.
 * With `restate`, the message is rendered again with these variables (`restatedVariables`: the
 * balance it states has moved since it was requested) and that body is what this attempt sends.
 */
export type StartSmsSubmission = {
  readonly type: "StartSmsSubmission";
  readonly data: {
    readonly notificationId: string;
    readonly attempt: number;
    readonly provider: string;
    readonly now: Instant;
    readonly restate?: { readonly template: string; readonly variables: TemplateVariables };
  };
};

/** Record that the provider accepted the claimed attempt. */
export type RecordSmsSubmission = {
  readonly type: "RecordSmsSubmission";
  readonly data: {
    readonly notificationId: string;
    readonly attempt: number;
    readonly provider: string;
    readonly providerMessageId: string;
    readonly segments: number;
    readonly now: Instant;
  };
};

/** Record that the provider did not accept the claimed attempt (or reconciliation found no message). */
export type RecordSmsSubmissionFailure = {
  readonly type: "RecordSmsSubmissionFailure";
  readonly data: {
    readonly notificationId: string;
    readonly attempt: number;
    readonly provider: string;
    readonly retryable: boolean;
    readonly errorCode: string;
    readonly nextAttemptAt?: Instant;
    readonly now: Instant;
  };
};

/** A provider's report, raw: the decider normalises it with `mapProviderStatus`. */
export type ReportSmsStatus = {
  readonly type: "ReportSmsStatus";
  readonly data: {
    readonly notificationId: string;
    readonly provider: string;
    readonly dialect: StatusDialect;
    readonly rawStatus: string;
    readonly errorCode: string | null;
    readonly via: StatusReportChannel;
    readonly reportedAt: Instant;
  };
};

/** Withdraw a notification that no provider has yet. */
export type CancelNotification = {
  readonly type: "CancelNotification";
  readonly data: { readonly notificationId: string; readonly by: string; readonly now: Instant };
};

/** Mark a submitted notification `unknown` once its validity has passed without a final report. */
export type ExpireToUnknown = {
  readonly type: "ExpireToUnknown";
  readonly data: { readonly notificationId: string; readonly now: Instant };
};

/**
 * Everything that can be asked of a `notification-<notificationId>` stream. `notificationId` is
 * for routing to the stream; time always arrives as data (`now`, `reportedAt`).
 */
export type NotificationCommand =
  | RequestNotification
  | SuppressNotification
  | DeferNotification
  | StartSmsSubmission
  | RecordSmsSubmission
  | RecordSmsSubmissionFailure
  | ReportSmsStatus
  | CancelNotification
  | ExpireToUnknown;
