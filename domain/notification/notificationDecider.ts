import { accepted, refused, unreachable } from "../Decider.ts";
import type { Decider, Decision } from "../Decider.ts";
import type {
  CancelNotification,
  DeferNotification,
  ExpireToUnknown,
  NotificationCommand,
  RecordSmsSubmission,
  RecordSmsSubmissionFailure,
  ReportSmsStatus,
  RequestNotification,
  StartSmsSubmission,
  SuppressNotification,
} from "./NotificationCommand.ts";
import type { NotificationEvent } from "./NotificationEvent.ts";
import type {
  FailedAttempt,
  NotificationRequest,
  NotificationState,
  SubmittedAttempt,
} from "./NotificationState.ts";
import { canAdvance } from "./NotificationStatus.ts";
import { mapProviderStatus } from "./providerStatusMapping.ts";
import { renderedMessage } from "./renderedMessage.ts";
import { ruleNotificationId } from "./ruleNotificationId.ts";
import { compareInstants } from "../values/Instant.ts";

/**
 * Why the notification decider said no. A late, duplicate or backward provider report is never
 * refused (it is an accepted no-op); refusals are for commands that contradict the stream.
 */
export type NotificationRefusalCode =
  | "already_requested"
  | "notification_id_mismatch"
  | "template_render_failed"
  | "empty_body"
  | "invalid_validity"
  | "not_requested"
  | "invalid_deferral"
  | "deferral_not_elapsed"
  | "defer_too_late"
  | "attempt_out_of_sequence"
  | "submission_in_progress"
  | "submission_not_started"
  | "claim_mismatch"
  | "already_submitted"
  | "not_submitted"
  | "unmapped_status"
  | "provider_mismatch"
  | "cancel_too_late"
  | "validity_not_passed"
  | "already_final";

type NotificationDecision = Decision<NotificationEvent, NotificationRefusalCode>;

/** The stream a notification's events live in. */
export function notificationStreamId(notificationId: string): string {
  return `notification-${notificationId}`;
}

/**
 * The `notification-<notificationId>` stream's decider.
 *
 * Repeating the command that produced the current state is an accepted no-op (a redelivered
 * message is harmless); a command that contradicts it is refused. The exception is the claim:
 * `StartSmsSubmission` is refused while an attempt is in flight, so of two gateways racing for
 * the same message exactly one may call the provider.
 *
 * Provider reports only move the status forward (see `canAdvance`): one that would not is
 * accepted with no event — duplicates, late `sent` after `delivered`, anything after a final
 * status. So the stream holds exactly the reports that changed something.
 */
export const notificationDecider: Decider<
  NotificationState,
  NotificationCommand,
  NotificationEvent,
  NotificationRefusalCode
> = {
  initialState: () => ({ status: "absent" }),
  evolve,
  decide,
};

function decide(command: NotificationCommand, state: NotificationState): NotificationDecision {
  switch (command.type) {
    case "RequestNotification":
      return request(command.data, state);
    case "SuppressNotification":
      return suppress(command.data, state);
    case "DeferNotification":
      return defer(command.data, state);
    case "StartSmsSubmission":
      return startSubmission(command.data, state);
    case "RecordSmsSubmission":
      return recordSubmission(command.data, state);
    case "RecordSmsSubmissionFailure":
      return recordSubmissionFailure(command.data, state);
    case "ReportSmsStatus":
      return reportStatus(command.data, state);
    case "CancelNotification":
      return cancel(command.data, state);
    case "ExpireToUnknown":
      return expireToUnknown(command.data, state);
    default:
      return unreachable(command);
  }
}

function request(data: RequestNotification["data"], state: NotificationState): NotificationDecision {
  if (state.status !== "absent") {
    return sameOrigin(state.request, data)
      ? accepted()
      : refused("already_requested", `notification ${data.notificationId} was already requested differently`);
  }
  if (data.rule !== undefined) {
    const expected = ruleNotificationId(data.accountId, data.rule.ruleId, data.rule.episode);
    if (data.notificationId !== expected) {
      return refused(
        "notification_id_mismatch",
        `rule ${data.rule.ruleId} episode ${data.rule.episode} on account ${data.accountId} is notification ${expected}`,
      );
    }
  }
  if (compareInstants(data.validUntil, data.now) <= 0) {
    return refused("invalid_validity", `validUntil ${data.validUntil} is not after ${data.now}`);
  }
  const rendered = renderedMessage(data.templateId, data.template, data.variables);
  if ("problem" in rendered) return refused(rendered.problem, rendered.detail);
  const { encoding, segments } = rendered;
  return accepted({
    type: "NotificationRequested",
    data: {
      notificationId: data.notificationId,
      accountId: data.accountId,
      messageClass: data.messageClass,
      ...(data.rule === undefined ? {} : { rule: data.rule }),
      templateId: data.templateId,
      variables: data.variables,
      body: rendered.body,
      encoding,
      segments,
      recipient: data.recipient,
      validUntil: data.validUntil,
      requestedAt: data.now,
    },
  });
}

/**
 * A redelivered trigger re-renders with whatever template and contact are current, so only the
 * origin is compared; the first request's body and recipient stand.
 */
function sameOrigin(recorded: NotificationRequest, data: RequestNotification["data"]): boolean {
  return (
    recorded.accountId === data.accountId &&
    recorded.messageClass === data.messageClass &&
    recorded.templateId === data.templateId &&
    recorded.rule?.ruleId === data.rule?.ruleId &&
    recorded.rule?.episode === data.rule?.episode
  );
}

function suppress(data: SuppressNotification["data"], state: NotificationState): NotificationDecision {
  const event = { type: "NotificationSuppressed", data: { reason: data.reason, at: data.now } } as const;
  switch (state.status) {
    case "absent":
      return notRequested();
    case "requested":
    case "deferred":
      return accepted(event);
    case "submitting":
      return state.attempt.outcome === "in-flight" ? inProgress(state.attempt.attempt) : accepted(event);
    case "submitted":
    case "sent":
    case "unknown":
      return alreadySubmitted(state.status);
    case "suppressed":
      return state.reason === data.reason ? accepted() : alreadyFinal(state.status);
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "cancelled":
      return alreadyFinal(state.status);
    default:
      return unreachable(state);
  }
}

function defer(data: DeferNotification["data"], state: NotificationState): NotificationDecision {
  const event = {
    type: "NotificationDeferred",
    data: { until: data.until, reason: data.reason, at: data.now },
  } as const;
  switch (state.status) {
    case "absent":
      return notRequested();
    case "deferred":
      if (state.until === data.until) return accepted();
      return deferUntilLater(data) ?? accepted(event);
    case "requested":
      return deferUntilLater(data) ?? accepted(event);
    case "submitting":
    case "submitted":
    case "sent":
    case "unknown":
      return refused(
        "defer_too_late",
        `a notification is deferred only before its first attempt; it is ${state.status}`,
      );
    case "suppressed":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "cancelled":
      return alreadyFinal(state.status);
    default:
      return unreachable(state);
  }
}

function deferUntilLater(data: DeferNotification["data"]): NotificationDecision | undefined {
  return compareInstants(data.until, data.now) > 0
    ? undefined
    : refused("invalid_deferral", `deferral until ${data.until} is not after ${data.now}`);
}

function startSubmission(data: StartSmsSubmission["data"], state: NotificationState): NotificationDecision {
  let restated: Extract<NotificationEvent, { type: "SmsSubmissionStarted" }>["data"]["restated"];
  if (data.restate !== undefined && state.status !== "absent") {
    const rendered = renderedMessage(state.request.templateId, data.restate.template, data.restate.variables);
    if ("problem" in rendered) return refused(rendered.problem, rendered.detail);
    restated = { variables: data.restate.variables, ...rendered };
  }
  const event = {
    type: "SmsSubmissionStarted",
    data: {
      attempt: data.attempt,
      provider: data.provider,
      at: data.now,
      ...(restated === undefined ? {} : { restated }),
    },
  } as const;
  switch (state.status) {
    case "absent":
      return notRequested();
    case "requested":
      return inSequence(data.attempt, 1) ?? accepted(event);
    case "deferred":
      if (compareInstants(data.now, state.until) < 0) {
        return refused("deferral_not_elapsed", `deferred until ${state.until}; it is ${data.now}`);
      }
      return inSequence(data.attempt, 1) ?? accepted(event);
    case "submitting":
      if (state.attempt.outcome === "in-flight") return inProgress(state.attempt.attempt);
      return inSequence(data.attempt, state.attempt.attempt + 1) ?? accepted(event);
    case "submitted":
    case "sent":
    case "unknown":
      return alreadySubmitted(state.status);
    case "suppressed":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "cancelled":
      return alreadyFinal(state.status);
    default:
      return unreachable(state);
  }
}

function inSequence(attempt: number, expected: number): NotificationDecision | undefined {
  return attempt === expected
    ? undefined
    : refused("attempt_out_of_sequence", `the next attempt is ${expected}, not ${attempt}`);
}

function recordSubmission(data: RecordSmsSubmission["data"], state: NotificationState): NotificationDecision {
  if (state.status === "absent") return notRequested();
  if (state.status === "submitting") {
    if (state.attempt.outcome !== "in-flight") return notStarted(data.attempt);
    return (
      matchesClaim(state.attempt, data) ??
      accepted({
        type: "SmsSubmitted",
        data: {
          attempt: data.attempt,
          provider: data.provider,
          providerMessageId: data.providerMessageId,
          segments: data.segments,
          at: data.now,
        },
      })
    );
  }
  const submitted = submittedAttemptOf(state);
  if (submitted !== null) {
    return submitted.attempt === data.attempt && submitted.providerMessageId === data.providerMessageId
      ? accepted()
      : alreadySubmitted(state.status);
  }
  return state.status === "requested" || state.status === "deferred"
    ? notStarted(data.attempt)
    : alreadyFinal(state.status);
}

function recordSubmissionFailure(
  data: RecordSmsSubmissionFailure["data"],
  state: NotificationState,
): NotificationDecision {
  if (state.status === "absent") return notRequested();
  if (state.status === "submitting" && state.attempt.outcome === "in-flight") {
    return (
      matchesClaim(state.attempt, data) ??
      accepted({
        type: "SmsSubmissionFailed",
        data: {
          attempt: data.attempt,
          provider: data.provider,
          retryable: data.retryable,
          errorCode: data.errorCode,
          ...(data.retryable && data.nextAttemptAt !== undefined
            ? { nextAttemptAt: data.nextAttemptAt }
            : {}),
          at: data.now,
        },
      })
    );
  }
  if ((state.status === "submitting" || state.status === "failed") && state.attempt.outcome === "failed") {
    if (state.attempt.attempt === data.attempt) return accepted();
  }
  if (submittedAttemptOf(state) !== null) return alreadySubmitted(state.status);
  return state.status === "requested" || state.status === "deferred" || state.status === "submitting"
    ? notStarted(data.attempt)
    : alreadyFinal(state.status);
}

function matchesClaim(
  claim: { readonly attempt: number; readonly provider: string },
  data: { readonly attempt: number; readonly provider: string },
): NotificationDecision | undefined {
  return claim.attempt === data.attempt && claim.provider === data.provider
    ? undefined
    : refused(
        "claim_mismatch",
        `attempt ${claim.attempt} with ${claim.provider} is in flight, not attempt ${data.attempt} with ${data.provider}`,
      );
}

function reportStatus(data: ReportSmsStatus["data"], state: NotificationState): NotificationDecision {
  if (state.status === "absent") return notRequested();
  const submitted = submittedAttemptOf(state);
  if (submitted === null) {
    return refused("not_submitted", `no provider has accepted this notification; it is ${state.status}`);
  }
  if (submitted.provider !== data.provider) {
    return refused("provider_mismatch", `submitted to ${submitted.provider}, reported by ${data.provider}`);
  }
  const mapping = mapProviderStatus(data.dialect, data.rawStatus, data.errorCode);
  switch (mapping.outcome) {
    case "unmapped":
      return refused(
        "unmapped_status",
        `${data.dialect} status "${data.rawStatus}" has no normalised meaning`,
      );
    case "mapped":
      return canAdvance(state.status, mapping.status)
        ? accepted({
            type: "SmsStatusReported",
            data: {
              status: mapping.status,
              rawStatus: data.rawStatus,
              errorCode: data.errorCode,
              provider: data.provider,
              via: data.via,
              reportedAt: data.reportedAt,
            },
          })
        : accepted();
    default:
      return unreachable(mapping);
  }
}

function cancel(data: CancelNotification["data"], state: NotificationState): NotificationDecision {
  const event = { type: "NotificationCancelled", data: { by: data.by, at: data.now } } as const;
  switch (state.status) {
    case "absent":
      return notRequested();
    case "requested":
    case "deferred":
      return accepted(event);
    case "submitting":
      return state.attempt.outcome === "in-flight"
        ? cancelTooLate("an attempt is in flight")
        : accepted(event);
    case "submitted":
    case "sent":
    case "unknown":
      return cancelTooLate(`it is ${state.status}`);
    case "cancelled":
      return accepted();
    case "suppressed":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
      return alreadyFinal(state.status);
    default:
      return unreachable(state);
  }
}

function cancelTooLate(why: string): NotificationDecision {
  return refused("cancel_too_late", `the provider may already have the message: ${why}`);
}

function expireToUnknown(data: ExpireToUnknown["data"], state: NotificationState): NotificationDecision {
  switch (state.status) {
    case "absent":
      return notRequested();
    case "requested":
    case "deferred":
    case "submitting":
      return refused("not_submitted", `no provider has accepted this notification; it is ${state.status}`);
    case "submitted":
    case "sent":
      return compareInstants(data.now, state.request.validUntil) >= 0
        ? accepted({
            type: "SmsValidityLapsed",
            data: { validUntil: state.request.validUntil, at: data.now },
          })
        : refused("validity_not_passed", `valid until ${state.request.validUntil}; it is ${data.now}`);
    case "unknown":
      return accepted();
    case "suppressed":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
    case "failed":
    case "cancelled":
      return alreadyFinal(state.status);
    default:
      return unreachable(state);
  }
}

function notRequested(): NotificationDecision {
  return refused("not_requested", "no notification has been requested on this stream");
}

function inProgress(attempt: number): NotificationDecision {
  return refused("submission_in_progress", `attempt ${attempt} is in flight; its outcome comes first`);
}

function notStarted(attempt: number): NotificationDecision {
  return refused("submission_not_started", `no claim for attempt ${attempt} is in flight`);
}

function alreadySubmitted(status: NotificationState["status"]): NotificationDecision {
  return refused("already_submitted", `a provider has accepted this notification; it is ${status}`);
}

function alreadyFinal(status: NotificationState["status"]): NotificationDecision {
  return refused("already_final", `the notification is already ${status}`);
}

function evolve(state: NotificationState, event: NotificationEvent): NotificationState {
  if (state.status === "absent") {
    return event.type === "NotificationRequested" ? { status: "requested", request: event.data } : state;
  }
  const { request } = state;
  switch (event.type) {
    case "NotificationRequested":
      return state;
    case "NotificationSuppressed":
      return { status: "suppressed", request, reason: event.data.reason };
    case "NotificationDeferred":
      return { status: "deferred", request, until: event.data.until };
    case "SmsSubmissionStarted":
      return {
        status: "submitting",
        request:
          event.data.restated === undefined
            ? request
            : {
                ...request,
                variables: event.data.restated.variables,
                body: event.data.restated.body,
                encoding: event.data.restated.encoding,
                segments: event.data.restated.segments,
              },
        attempt: {
          outcome: "in-flight",
          attempt: event.data.attempt,
          provider: event.data.provider,
          claimedAt: event.data.at,
        },
      };
    case "SmsSubmitted": {
      const { attempt, provider, providerMessageId } = event.data;
      return {
        status: "submitted",
        request,
        attempt: { outcome: "submitted", attempt, provider, providerMessageId },
      };
    }
    case "SmsSubmissionFailed": {
      const { attempt, provider, retryable, errorCode } = event.data;
      const failed: FailedAttempt = { outcome: "failed", attempt, provider, retryable, errorCode };
      return retryable
        ? { status: "submitting", request, attempt: failed }
        : { status: "failed", request, attempt: failed };
    }
    case "SmsStatusReported": {
      const submitted = submittedAttemptOf(state);
      // Forward-only on replay too, whatever rules wrote the log.
      if (submitted === null || !canAdvance(state.status, event.data.status)) return state;
      return { status: event.data.status, request, attempt: submitted };
    }
    case "SmsValidityLapsed": {
      const submitted = submittedAttemptOf(state);
      if (submitted === null || !canAdvance(state.status, "unknown")) return state;
      return { status: "unknown", request, attempt: submitted };
    }
    case "NotificationCancelled":
      return {
        status: "cancelled",
        request,
        attempt: state.status === "submitting" && state.attempt.outcome === "failed" ? state.attempt : null,
      };
    default:
      return unreachable(event);
  }
}

/** The attempt a provider accepted, if any: what reports and duplicate records are checked against. */
function submittedAttemptOf(state: NotificationState): SubmittedAttempt | null {
  switch (state.status) {
    case "absent":
    case "requested":
    case "deferred":
    case "submitting":
    case "suppressed":
      return null;
    case "cancelled":
    case "failed":
      return state.attempt?.outcome === "submitted" ? state.attempt : null;
    case "submitted":
    case "sent":
    case "unknown":
    case "delivered":
    case "undelivered":
    case "rejected":
    case "expired":
      return state.attempt;
    default:
      return unreachable(state);
  }
}
