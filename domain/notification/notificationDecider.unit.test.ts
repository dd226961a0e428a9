import test from "ava";
import { stateFrom } from "../Decider.ts";
import { deciderSpecification } from "../deciderSpecification.ts";
import { parsePhoneNumber } from "../values/PhoneNumber.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { NotificationCommand, RequestNotification } from "./NotificationCommand.ts";
import type { NotificationEvent, NotificationRequested } from "./NotificationEvent.ts";
import { notificationDecider, notificationStreamId } from "./notificationDecider.ts";
import { ruleNotificationId } from "./ruleNotificationId.ts";
import { parseInstant } from "../values/Instant.ts";
import type { Instant } from "../values/Instant.ts";

function at(text: string): Instant {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`bad instant in test: ${text}`);
  return instant;
}

const phone = parsePhoneNumber("+447911123456") as PhoneNumber;
const accountId = "acc-42";
const notificationId = ruleNotificationId(accountId, "low-balance", 3);
const T0 = at("2025-03-01T21:30:00.000Z");
const T1 = at("2025-03-02T08:00:00.000Z");
const T2 = at("2025-03-02T08:00:05.000Z");
const VALID_UNTIL = at("2025-03-03T21:30:00.000Z");
const AFTER_VALIDITY = at("2025-03-03T21:30:00.001Z");

const spec = deciderSpecification(notificationDecider);

const requestWithoutRule = {
  notificationId,
  accountId,
  messageClass: "service",
  templateId: "low-balance-v1",
  template: "Your balance is {{ balance }}. Reply STOP to opt out.",
  variables: { balance: "£42.10" },
  recipient: phone,
  validUntil: VALID_UNTIL,
  now: T0,
} as const satisfies RequestNotification["data"];

function requestCommand(overrides: Partial<RequestNotification["data"]> = {}): RequestNotification {
  return {
    type: "RequestNotification",
    data: { ...requestWithoutRule, rule: { ruleId: "low-balance", episode: 3 }, ...overrides },
  };
}

const requestedWithoutRule = {
  notificationId,
  accountId,
  messageClass: "service",
  templateId: "low-balance-v1",
  variables: { balance: "£42.10" },
  body: "Your balance is £42.10. Reply STOP to opt out.",
  encoding: "GSM-7",
  segments: 1,
  recipient: phone,
  validUntil: VALID_UNTIL,
  requestedAt: T0,
} as const satisfies NotificationRequested["data"];

const requested: NotificationRequested = {
  type: "NotificationRequested",
  data: { ...requestedWithoutRule, rule: { ruleId: "low-balance", episode: 3 } },
};

const deferred: NotificationEvent = {
  type: "NotificationDeferred",
  data: { until: T1, reason: "quiet-hours", at: T0 },
};

function started(attempt: number, provider = "twilio"): NotificationEvent {
  return { type: "SmsSubmissionStarted", data: { attempt, provider, at: T1 } };
}

function submitted(attempt = 1, providerMessageId = "SM123"): NotificationEvent {
  return {
    type: "SmsSubmitted",
    data: { attempt, provider: "twilio", providerMessageId, segments: 1, at: T1 },
  };
}

function failed(attempt: number, retryable: boolean): NotificationEvent {
  return {
    type: "SmsSubmissionFailed",
    data: { attempt, provider: "twilio", retryable, errorCode: retryable ? "503" : "21211", at: T1 },
  };
}

function reported(status: "sent" | "delivered" | "unknown", rawStatus: string): NotificationEvent {
  return {
    type: "SmsStatusReported",
    data: { status, rawStatus, errorCode: null, provider: "twilio", via: "webhook", reportedAt: T2 },
  };
}

const lapsed: NotificationEvent = {
  type: "SmsValidityLapsed",
  data: { validUntil: VALID_UNTIL, at: AFTER_VALIDITY },
};

const start = (attempt: number, provider = "twilio"): NotificationCommand => ({
  type: "StartSmsSubmission",
  data: { notificationId, attempt, provider, now: T1 },
});

const recordSubmission = (
  attempt = 1,
  providerMessageId = "SM123",
  provider = "twilio",
): NotificationCommand => ({
  type: "RecordSmsSubmission",
  data: { notificationId, attempt, provider, providerMessageId, segments: 1, now: T1 },
});

const recordFailure = (
  attempt: number,
  retryable: boolean,
  nextAttemptAt?: Instant,
): NotificationCommand => ({
  type: "RecordSmsSubmissionFailure",
  data: {
    notificationId,
    attempt,
    provider: "twilio",
    retryable,
    errorCode: retryable ? "503" : "21211",
    ...(nextAttemptAt === undefined ? {} : { nextAttemptAt }),
    now: T1,
  },
});

const report = (
  rawStatus: string,
  dialect: "twilio" | "smpp" = "twilio",
  provider = "twilio",
  errorCode: string | null = null,
): NotificationCommand => ({
  type: "ReportSmsStatus",
  data: { notificationId, provider, dialect, rawStatus, errorCode, via: "webhook", reportedAt: T2 },
});

const suppress = (reason: "opted-out" | "frequency-cap"): NotificationCommand => ({
  type: "SuppressNotification",
  data: { notificationId, reason, now: T1 },
});

const defer = (until: Instant, now = T0): NotificationCommand => ({
  type: "DeferNotification",
  data: { notificationId, until, reason: "quiet-hours", now },
});

const cancel: NotificationCommand = {
  type: "CancelNotification",
  data: { notificationId, by: "ops:alice", now: T1 },
};

const expire = (now: Instant): NotificationCommand => ({
  type: "ExpireToUnknown",
  data: { notificationId, now },
});

test("the stream of a notification is named after its id", (t) => {
  t.is(notificationStreamId(notificationId), `notification-${notificationId}`);
});

test("a request renders the template, counts segments and records the rule that caused it", (t) => {
  spec(t).given().when(requestCommand()).then([requested]);
});

test("a request not caused by a rule carries no rule and may use any id", (t) => {
  spec(t)
    .given()
    .when({ type: "RequestNotification", data: { ...requestWithoutRule, notificationId: "manual-1" } })
    .then([{ type: "NotificationRequested", data: { ...requestedWithoutRule, notificationId: "manual-1" } }]);
});

test("a template with a missing variable is refused, naming the variable, instead of sending 'undefined'", (t) => {
  const detail = spec(t)
    .given()
    .when(requestCommand({ template: "Hi {{name}}, balance {{balance}}", variables: {} }))
    .thenRefused("template_render_failed");
  t.regex(detail, /name, balance/);
});

test("a template that renders to nothing is refused", (t) => {
  spec(t)
    .given()
    .when(requestCommand({ template: " {{x}} ", variables: { x: "" } }))
    .thenRefused("empty_body");
});

test("a rule-caused request must use the id derived from account, rule and episode", (t) => {
  spec(t)
    .given()
    .when(requestCommand({ rule: { ruleId: "low-balance", episode: 4 } }))
    .thenRefused("notification_id_mismatch");
});

test("a validity period that has already ended is refused", (t) => {
  spec(t)
    .given()
    .when(requestCommand({ validUntil: T0 }))
    .thenRefused("invalid_validity");
});

test("a redelivered trigger is a no-op even if the template or contact changed since", (t) => {
  spec(t)
    .given(requested)
    .when(
      requestCommand({
        now: T1,
        template: "New wording {{balance}}",
        recipient: parsePhoneNumber("+447911654321")!,
      }),
    )
    .thenNothing();
});

test("a different request on an existing notification id is refused", (t) => {
  spec(t)
    .given(requested)
    .when(requestCommand({ messageClass: "marketing" }))
    .thenRefused("already_requested");
});

test("every command but a request is refused on a stream with no request", (t) => {
  for (const command of [
    suppress("opted-out"),
    defer(T1),
    start(1),
    recordSubmission(),
    recordFailure(1, true),
    report("delivered"),
    cancel,
    expire(AFTER_VALIDITY),
  ]) {
    spec(t).given().when(command).thenRefused("not_requested");
  }
});

test("quiet hours defer the message; the deferral can be extended but not set in the past", (t) => {
  spec(t).given(requested).when(defer(T1)).then([deferred]);
  spec(t).given(requested, deferred).when(defer(T1)).thenNothing();
  spec(t)
    .given(requested, deferred)
    .when(defer(T2))
    .then([{ type: "NotificationDeferred", data: { until: T2, reason: "quiet-hours", at: T0 } }]);
  spec(t).given(requested).when(defer(T0)).thenRefused("invalid_deferral");
});

test("a deferred message is not submitted before the deferral ends, and is afterwards", (t) => {
  spec(t)
    .given(requested, deferred)
    .when({ type: "StartSmsSubmission", data: { notificationId, attempt: 1, provider: "twilio", now: T0 } })
    .thenRefused("deferral_not_elapsed");
  spec(t)
    .given(requested, deferred)
    .when(start(1))
    .then([started(1)]);
});

test("deferral is only possible before the first attempt", (t) => {
  spec(t).given(requested, started(1)).when(defer(T2, T1)).thenRefused("defer_too_late");
  spec(t).given(requested, started(1), submitted()).when(defer(T2, T1)).thenRefused("defer_too_late");
  spec(t).given(requested, started(1), failed(1, false)).when(defer(T2, T1)).thenRefused("already_final");
});

test("a pre-send check's 'no' is recorded with its reason, once", (t) => {
  const suppressed: NotificationEvent = {
    type: "NotificationSuppressed",
    data: { reason: "opted-out", at: T1 },
  };
  spec(t).given(requested).when(suppress("opted-out")).then([suppressed]);
  spec(t).given(requested, deferred).when(suppress("opted-out")).then([suppressed]);
  spec(t).given(requested, suppressed).when(suppress("opted-out")).thenNothing();
  spec(t).given(requested, suppressed).when(suppress("frequency-cap")).thenRefused("already_final");
  spec(t).given(requested, suppressed).when(start(1)).thenRefused("already_final");
});

test("suppression waits for an in-flight attempt, and is too late once a provider has the message", (t) => {
  spec(t).given(requested, started(1)).when(suppress("opted-out")).thenRefused("submission_in_progress");
  spec(t)
    .given(requested, started(1), failed(1, true))
    .when(suppress("opted-out"))
    .then([{ type: "NotificationSuppressed", data: { reason: "opted-out", at: T1 } }]);
  spec(t)
    .given(requested, started(1), submitted())
    .when(suppress("opted-out"))
    .thenRefused("already_submitted");
});

test("the first attempt is number 1 and a claim in flight blocks a second gateway from sending", (t) => {
  spec(t)
    .given(requested)
    .when(start(1))
    .then([started(1)]);
  spec(t).given(requested).when(start(2)).thenRefused("attempt_out_of_sequence");
  spec(t).given(requested, started(1)).when(start(1)).thenRefused("submission_in_progress");
  spec(t).given(requested, started(1)).when(start(2, "fallback")).thenRefused("submission_in_progress");
});

test("a submission is recorded only against the claim in flight", (t) => {
  spec(t).given(requested).when(recordSubmission()).thenRefused("submission_not_started");
  spec(t).given(requested, started(1)).when(recordSubmission(2)).thenRefused("claim_mismatch");
  spec(t)
    .given(requested, started(1))
    .when(recordSubmission(1, "SM123", "fallback"))
    .thenRefused("claim_mismatch");
  spec(t).given(requested, started(1)).when(recordSubmission()).then([submitted()]);
});

test("recording the same submission twice is a no-op; a second provider message is refused", (t) => {
  spec(t).given(requested, started(1), submitted()).when(recordSubmission()).thenNothing();
  spec(t)
    .given(requested, started(1), submitted())
    .when(recordSubmission(1, "SM999"))
    .thenRefused("already_submitted");
  spec(t).given(requested, started(1), submitted()).when(start(2)).thenRefused("already_submitted");
});

test("a retryable failure allows the next attempt, possibly through another provider", (t) => {
  spec(t)
    .given(requested, started(1))
    .when(recordFailure(1, true, T2))
    .then([
      {
        type: "SmsSubmissionFailed",
        data: {
          attempt: 1,
          provider: "twilio",
          retryable: true,
          errorCode: "503",
          nextAttemptAt: T2,
          at: T1,
        },
      },
    ]);
  spec(t).given(requested, started(1), failed(1, true)).when(recordFailure(1, true)).thenNothing();
  spec(t)
    .given(requested, started(1), failed(1, true))
    .when(recordSubmission())
    .thenRefused("submission_not_started");
  spec(t).given(requested, started(1), failed(1, true)).when(start(3)).thenRefused("attempt_out_of_sequence");
  spec(t)
    .given(requested, started(1), failed(1, true))
    .when(start(2, "fallback"))
    .then([started(2, "fallback")]);
});

test("a failure that is not retryable ends the notification as failed", (t) => {
  spec(t)
    .given(requested, started(1))
    .when(recordFailure(1, false, T2))
    .then([
      {
        type: "SmsSubmissionFailed",
        data: { attempt: 1, provider: "twilio", retryable: false, errorCode: "21211", at: T1 },
      },
    ]);
  spec(t).given(requested, started(1), failed(1, false)).when(recordFailure(1, false)).thenNothing();
  spec(t).given(requested, started(1), failed(1, false)).when(start(2)).thenRefused("already_final");
  const state = stateFrom(notificationDecider, [requested, started(1), failed(1, false)]);
  t.is(state.status, "failed");
});

test("a status report before any provider accepted the message is refused", (t) => {
  spec(t).given(requested).when(report("delivered")).thenRefused("not_submitted");
  spec(t).given(requested, started(1)).when(report("delivered")).thenRefused("not_submitted");
});

test("a delivery report is kept with the provider's raw status and error code", (t) => {
  spec(t)
    .given(requested, started(1), submitted())
    .when(report("DELIVRD", "smpp", "twilio", "000"))
    .then([
      {
        type: "SmsStatusReported",
        data: {
          status: "delivered",
          rawStatus: "DELIVRD",
          errorCode: "000",
          provider: "twilio",
          via: "webhook",
          reportedAt: T2,
        },
      },
    ]);
});

test("late, duplicate and backward reports are accepted without an event and never move the status back", (t) => {
  const history = [requested, started(1), submitted(), reported("delivered", "delivered")];
  spec(t)
    .given(...history)
    .when(report("sent"))
    .thenNothing();
  spec(t)
    .given(...history)
    .when(report("queued"))
    .thenNothing();
  spec(t)
    .given(...history)
    .when(report("delivered"))
    .thenNothing();
  spec(t)
    .given(...history)
    .when(report("undelivered"))
    .thenNothing();
  spec(t).given(requested, started(1), submitted()).when(report("queued")).thenNothing();
  t.is(stateFrom(notificationDecider, history).status, "delivered");
});

test("a raw status nobody mapped is refused as unmapped, not guessed", (t) => {
  spec(t).given(requested, started(1), submitted()).when(report("teleported")).thenRefused("unmapped_status");
});

test("a report from a provider other than the one that accepted the message is refused", (t) => {
  spec(t)
    .given(requested, started(1), submitted())
    .when(report("delivered", "twilio", "fallback"))
    .thenRefused("provider_mismatch");
});

test("after the validity period with no final report the notification is unknown", (t) => {
  const history = [requested, started(1), submitted(), reported("sent", "sent")];
  spec(t)
    .given(...history)
    .when(expire(T2))
    .thenRefused("validity_not_passed");
  spec(t)
    .given(...history)
    .when(expire(AFTER_VALIDITY))
    .then([lapsed]);
  spec(t)
    .given(...history, lapsed)
    .when(expire(AFTER_VALIDITY))
    .thenNothing();
  spec(t).given(requested, started(1)).when(expire(AFTER_VALIDITY)).thenRefused("not_submitted");
  spec(t)
    .given(requested, started(1), submitted(), reported("delivered", "delivered"))
    .when(expire(AFTER_VALIDITY))
    .thenRefused("already_final");
});

test("an unknown notification may still turn out delivered or undelivered, and nothing else", (t) => {
  const history = [requested, started(1), submitted(), lapsed];
  t.is(stateFrom(notificationDecider, history).status, "unknown");
  spec(t)
    .given(...history)
    .when(report("delivered"))
    .then([reported("delivered", "delivered")]);
  spec(t)
    .given(...history)
    .when(report("EXPIRED", "smpp"))
    .thenNothing();
  spec(t)
    .given(...history)
    .when(report("failed"))
    .thenNothing();
  spec(t)
    .given(...history)
    .when(report("sent"))
    .thenNothing();
});

test("cancelling works until an attempt is in flight, and twice is a no-op", (t) => {
  const cancelled: NotificationEvent = { type: "NotificationCancelled", data: { by: "ops:alice", at: T1 } };
  spec(t).given(requested).when(cancel).then([cancelled]);
  spec(t).given(requested, deferred).when(cancel).then([cancelled]);
  spec(t).given(requested, started(1), failed(1, true)).when(cancel).then([cancelled]);
  spec(t).given(requested, cancelled).when(cancel).thenNothing();
  spec(t).given(requested, cancelled).when(start(1)).thenRefused("already_final");
  spec(t).given(requested, started(1)).when(cancel).thenRefused("cancel_too_late");
  spec(t).given(requested, started(1), submitted()).when(cancel).thenRefused("cancel_too_late");
  spec(t).given(requested, started(1), submitted(), lapsed).when(cancel).thenRefused("cancel_too_late");
  spec(t)
    .given(requested, started(1), submitted(), reported("delivered", "read"))
    .when(cancel)
    .thenRefused("already_final");
});

test("folding a whole history gives the final status and the accepted attempt", (t) => {
  const state = stateFrom(notificationDecider, [
    requested,
    deferred,
    started(1),
    failed(1, true),
    started(2),
    submitted(2, "SM777"),
    reported("sent", "sent"),
    reported("delivered", "delivered"),
  ]);
  t.like(state, {
    status: "delivered",
    request: { notificationId, body: requested.data.body },
    attempt: { outcome: "submitted", attempt: 2, providerMessageId: "SM777" },
  });
});

test("a claim restating the message (its balance moved): the attempt records the body it sends, and the request is that body from then on", (t) => {
  const restate = {
    template: "Your balance is {{ balance }}. Reply STOP to opt out.",
    variables: { balance: "£3.00" },
  };
  spec(t)
    .given(requested)
    .when({
      type: "StartSmsSubmission",
      data: { notificationId, attempt: 1, provider: "twilio", now: T1, restate },
    })
    .then([
      {
        type: "SmsSubmissionStarted",
        data: {
          attempt: 1,
          provider: "twilio",
          at: T1,
          restated: {
            variables: { balance: "£3.00" },
            body: "Your balance is £3.00. Reply STOP to opt out.",
            encoding: "GSM-7",
            segments: 1,
          },
        },
      },
    ]);
  const state = stateFrom(notificationDecider, [
    requested,
    {
      type: "SmsSubmissionStarted",
      data: {
        attempt: 1,
        provider: "twilio",
        at: T1,
        restated: { variables: { balance: "£3.00" }, body: "Now £3.00.", encoding: "GSM-7", segments: 1 },
      },
    },
  ]);
  t.like(state, { status: "submitting", request: { body: "Now £3.00.", variables: { balance: "£3.00" } } });
});

test("a claim restating with a template that does not render: refused, nothing claimed", (t) => {
  spec(t)
    .given(requested)
    .when({
      type: "StartSmsSubmission",
      data: {
        notificationId,
        attempt: 1,
        provider: "twilio",
        now: T1,
        restate: { template: "{{ missing }}", variables: {} },
      },
    })
    .thenRefused("template_render_failed");
});
