import type { NotificationRequested } from "./NotificationEvent.ts";
import type { SuppressionReason } from "./NotificationStatus.ts";
import type { Instant } from "../values/Instant.ts";

/** The facts of the request, as first recorded (a repeated request never changes them). */
export type NotificationRequest = NotificationRequested["data"];

/** The latest attempt to hand the SMS to a provider, and how it ended so far. */
export type SubmissionAttempt =
  | {
      readonly outcome: "in-flight";
      readonly attempt: number;
      readonly provider: string;
      /** When the attempt was claimed: a claim older than any provider call can last was abandoned. */
      readonly claimedAt: Instant;
    }
  | {
      readonly outcome: "failed";
      readonly attempt: number;
      readonly provider: string;
      readonly retryable: boolean;
      readonly errorCode: string;
    }
  | {
      readonly outcome: "submitted";
      readonly attempt: number;
      readonly provider: string;
      readonly providerMessageId: string;
    };

export type InFlightAttempt = Extract<SubmissionAttempt, { outcome: "in-flight" }>;
export type FailedAttempt = Extract<SubmissionAttempt, { outcome: "failed" }>;
export type SubmittedAttempt = Extract<SubmissionAttempt, { outcome: "submitted" }>;

/**
 * A notification stream folded: `absent` before `NotificationRequested`, then one variant per
 * normalised status. `attempt` is kept wherever a later command must match it (a duplicate
 * submission record, a report from the right provider); `null` on `cancelled` means it was
 * withdrawn before any attempt.
 */
export type NotificationState =
  | { readonly status: "absent" }
  | { readonly status: "requested"; readonly request: NotificationRequest }
  | { readonly status: "deferred"; readonly request: NotificationRequest; readonly until: Instant }
  | {
      readonly status: "submitting";
      readonly request: NotificationRequest;
      readonly attempt: InFlightAttempt | FailedAttempt;
    }
  | {
      readonly status: "suppressed";
      readonly request: NotificationRequest;
      readonly reason: SuppressionReason;
    }
  | {
      readonly status: "cancelled";
      readonly request: NotificationRequest;
      readonly attempt: FailedAttempt | SubmittedAttempt | null;
    }
  | {
      readonly status: "failed";
      readonly request: NotificationRequest;
      readonly attempt: FailedAttempt | SubmittedAttempt;
    }
  | {
      readonly status:
        "submitted" | "sent" | "unknown" | "delivered" | "undelivered" | "rejected" | "expired";
      readonly request: NotificationRequest;
      readonly attempt: SubmittedAttempt;
    };
