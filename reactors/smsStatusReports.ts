import { setTimeout as sleep } from "node:timers/promises";
import { context } from "@opentelemetry/api";
import { handleCommand } from "../commands/handleCommand.ts";
import { StateCache } from "../commands/StateCache.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import type { NotificationEvent } from "../domain/notification/NotificationEvent.ts";
import type { NotificationState } from "../domain/notification/NotificationState.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import {
  activeTraceContext,
  contextOfEvent,
  inSpan,
  SpanKind,
} from "../gateways/observability/traceContext.ts";

export interface SmsStatusReportsOptions {
  readonly store: EventStore;
  readonly clock: () => number;
  readonly newEventId: () => string;
}

/** A delivery report as a provider posted it, its signature already checked. */
export interface SmsStatusReport {
  /** Our reference: the notification id the callback URL carries. */
  readonly notificationId: string;
  /** The provider (by its configured name) that posted it. */
  readonly provider: string;
  readonly messageSid: string;
  readonly rawStatus: string;
  readonly errorCode: string | null;
}

/** What became of a report; anything but `recorded` says why it was not taken. */
export type SmsStatusReportOutcome =
  | { readonly outcome: "recorded" }
  | { readonly outcome: "no-such-notification"; readonly detail: string }
  | { readonly outcome: "not-the-submitted-message"; readonly detail: string }
  | { readonly outcome: "refused"; readonly detail: string };

// How long a report for a submission still in flight waits for the provider's answer to be recorded.
const IN_FLIGHT_WAIT_MS = 3000;
const IN_FLIGHT_POLL_MS = 50;

/**
 * A delivery report → `SmsStatusReported`, through the notification decider, which keeps the
 * lifecycle forward-only: a late, duplicate or replayed report changes nothing. Taken only for a
 * notification the reporting provider holds under the very message id reported. The report joins
 * the trace of the submission it is about (providers send no trace context).
 */
export function smsStatusReports(options: SmsStatusReportsOptions) {
  return {
    async record(report: SmsStatusReport): Promise<SmsStatusReportOutcome> {
      const { notificationId, messageSid } = report;
      const streamId = notificationStreamId(notificationId);
      const read = await readOnceAnswered(options.store, streamId);
      const { state } = read;
      if (state.status === "absent") {
        return { outcome: "no-such-notification", detail: `no notification ${notificationId}` };
      }
      const attempt = "attempt" in state ? state.attempt : null;
      const submittedAs =
        attempt !== null && attempt.outcome === "submitted" ? attempt.providerMessageId : undefined;
      if (submittedAs !== messageSid) {
        const detail = `message ${messageSid} is not the one submitted for ${notificationId}`;
        return { outcome: "not-the-submitted-message", detail };
      }
      const { submission } = read;
      const outcome = await inSpan(
        `sms status report ${report.rawStatus}`,
        SpanKind.SERVER,
        submission === undefined ? context.active() : contextOfEvent(submission.metadata),
        { "tidemark.notification.id": notificationId, "tidemark.provider": report.provider },
        () => recordReport(options, streamId, report, read),
      );
      if (outcome.outcome === "refused") return { outcome: "refused", detail: outcome.detail };
      return { outcome: "recorded" };
    },
  };
}

function recordReport(
  options: SmsStatusReportsOptions,
  streamId: string,
  report: SmsStatusReport,
  read: NotificationRead,
) {
  // Decided on the state just read; a report that raced this one moved the stream, fails the
  // append, and this one is decided again on a fresh read.
  const known = new StateCache<unknown>(1);
  known.set(streamId, read.state, read.revision);
  return handleCommand(
    options.store,
    notificationDecider,
    streamId,
    {
      type: "ReportSmsStatus",
      data: {
        notificationId: report.notificationId,
        provider: report.provider,
        dialect: "twilio",
        rawStatus: report.rawStatus,
        errorCode: report.errorCode,
        via: "webhook",
        reportedAt: epochMsToInstant(options.clock()),
      },
    },
    {
      retriesOnConflict: 3,
      newEventId: options.newEventId,
      metadata: {
        correlationId: report.notificationId,
        actor: `provider:${report.provider}`,
        ...activeTraceContext(),
      },
      cache: known,
    },
  );
}

/** The notification as one read of its stream finds it, and its latest `SmsSubmitted`. */
interface NotificationRead {
  readonly state: NotificationState;
  readonly revision: number;
  /** Whose trace a report continues. */
  readonly submission: RecordedEvent | undefined;
}

/**
 * The notification, once the gateway recorded the provider's answer. A fast report can overtake
 * the gateway recording it (the provider reports "sent" before our SmsSubmitted is written).
 * Providers do not send a refused report again, so wait a moment for the answer rather than lose
 * the report to the poller's delay.
 */
async function readOnceAnswered(store: EventStore, streamId: string): Promise<NotificationRead> {
  let read = await readNotification(store, streamId);
  for (
    let waited = 0;
    waited < IN_FLIGHT_WAIT_MS && "attempt" in read.state && read.state.attempt?.outcome === "in-flight";
    waited += IN_FLIGHT_POLL_MS
  ) {
    await sleep(IN_FLIGHT_POLL_MS);
    read = await readNotification(store, streamId);
  }
  return read;
}

async function readNotification(store: EventStore, streamId: string): Promise<NotificationRead> {
  let state = notificationDecider.initialState();
  let revision = -1;
  let submission: RecordedEvent | undefined;
  for await (const recorded of store.readStream(streamId)) {
    // The store holds what the decider emitted: its type/data pairs are the decider's events.
    state = notificationDecider.evolve(state, {
      type: recorded.type,
      data: recorded.data,
    } as NotificationEvent);
    revision = recorded.revision;
    if (recorded.type === "SmsSubmitted") submission = recorded;
  }
  return { state, revision, submission };
}
