import type { MessageClass } from "../values/MessageClass.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { SuppressionReason } from "./NotificationStatus.ts";
import type { ReportedStatus } from "./providerStatusMapping.ts";
import type { RenderedMessage } from "./renderedMessage.ts";
import type { TemplateVariables } from "./renderTemplate.ts";
import type { SmsEncoding } from "./smsSegments.ts";
import type { Instant } from "../values/Instant.ts";

/** The qualification episode of a rule that caused a notification; both or neither. */
export type RuleCause = { readonly ruleId: string; readonly episode: number };

/** Why sending waits. A deferral always ends in another attempt: it never drops the message. */
/**
 * Why a notification waits: quiet hours; the provider's rate; or `balance-in-band`, a balance
 * alert whose balance is back across the threshold though not far enough to end its episode (a
 * `below` rule re-arms only above `rearmAbove`): its SMS would not be true now, and a dip again in
 * the same episode brings no new alert, so it is looked at again later instead of dropped.
 */
export type DeferralReason = "quiet-hours" | "send-rate-limit" | "balance-in-band";

/** How a status report reached us: the provider's webhook, or our polling of the provider. */
export type StatusReportChannel = "poll" | "webhook";

/**
 * A notification was asked for. Carries everything needed to send and to answer "what did we
 * send, to whom, why": the rendered body and its segment count as well as the template and
 * variables it came from. `rule` is present when a rule's qualification caused it.
 */
export type NotificationRequested = {
  readonly type: "NotificationRequested";
  readonly data: {
    readonly notificationId: string;
    readonly accountId: string;
    readonly messageClass: MessageClass;
    readonly rule?: RuleCause;
    readonly templateId: string;
    readonly variables: TemplateVariables;
    readonly body: string;
    readonly encoding: SmsEncoding;
    readonly segments: number;
    readonly recipient: PhoneNumber;
    /** After this instant a message without a final report becomes `unknown`. */
    readonly validUntil: Instant;
    readonly requestedAt: Instant;
  };
};

/** A pre-send check said no; the reason is the decision log support and compliance ask for. */
export type NotificationSuppressed = {
  readonly type: "NotificationSuppressed";
  readonly data: { readonly reason: SuppressionReason; readonly at: Instant };
};

/** Sending waits until `until` (e.g. the end of quiet hours in the customer's time zone). */
export type NotificationDeferred = {
  readonly type: "NotificationDeferred";
  readonly data: { readonly until: Instant; readonly reason: DeferralReason; readonly at: Instant };
};

/**
 * A gateway claimed attempt `attempt` and is about to call `provider`. Written before the call, so
 * a crash leaves a claim to reconcile by looking the message up — never a reason to send again.
 */
export type SmsSubmissionStarted = {
  readonly type: "SmsSubmissionStarted";
  readonly data: {
    readonly attempt: number;
    readonly provider: string;
    readonly at: Instant;
    /**
     * The message as this attempt sends it, when it was rendered again since the request (the
     * balance it states had moved): from here on the request's variables and body are these.
     */
    readonly restated?: RenderedMessage & { readonly variables: TemplateVariables };
  };
};

/** The provider accepted the message of attempt `attempt`; `segments` as the provider counts them. */
export type SmsSubmitted = {
  readonly type: "SmsSubmitted";
  readonly data: {
    readonly attempt: number;
    readonly provider: string;
    readonly providerMessageId: string;
    readonly segments: number;
    readonly at: Instant;
  };
};

/**
 * The provider did not accept attempt `attempt`. Retryable: another attempt follows (at
 * `nextAttemptAt` when known); not retryable: the notification has `failed`.
 */
export type SmsSubmissionFailed = {
  readonly type: "SmsSubmissionFailed";
  readonly data: {
    readonly attempt: number;
    readonly provider: string;
    readonly retryable: boolean;
    readonly errorCode: string;
    readonly nextAttemptAt?: Instant;
    readonly at: Instant;
  };
};

/**
 * A provider report that moved the notification forward: the normalised status beside the raw
 * status and error code exactly as the provider sent them.
 */
export type SmsStatusReported = {
  readonly type: "SmsStatusReported";
  readonly data: {
    readonly status: ReportedStatus;
    readonly rawStatus: string;
    readonly errorCode: string | null;
    readonly provider: string;
    readonly via: StatusReportChannel;
    readonly reportedAt: Instant;
  };
};

/** The validity period passed with no final report: the outcome is `unknown` (for now). */
export type SmsValidityLapsed = {
  readonly type: "SmsValidityLapsed";
  readonly data: { readonly validUntil: Instant; readonly at: Instant };
};

/** Someone (`by`: an operator or API client id) withdrew the notification before it was sent. */
export type NotificationCancelled = {
  readonly type: "NotificationCancelled";
  readonly data: { readonly by: string; readonly at: Instant };
};

/** Everything that can happen on a `notification-<notificationId>` stream. */
export type NotificationEvent =
  | NotificationRequested
  | NotificationSuppressed
  | NotificationDeferred
  | SmsSubmissionStarted
  | SmsSubmitted
  | SmsSubmissionFailed
  | SmsStatusReported
  | SmsValidityLapsed
  | NotificationCancelled;

/** Every type of notification event, exactly once: the compiler checks the list is complete. */
export const NOTIFICATION_EVENT_TYPES = Object.keys({
  NotificationRequested: true,
  NotificationSuppressed: true,
  NotificationDeferred: true,
  SmsSubmissionStarted: true,
  SmsSubmitted: true,
  SmsSubmissionFailed: true,
  SmsStatusReported: true,
  SmsValidityLapsed: true,
  NotificationCancelled: true,
} satisfies Record<NotificationEvent["type"], true>) as readonly NotificationEvent["type"][];
