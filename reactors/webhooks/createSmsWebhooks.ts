import { setTimeout as sleep } from "node:timers/promises";
import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { problemAnswers } from "../../commands/api/problemMiddleware.ts";
import { refuseControlCharacters } from "../../commands/api/refuseControlCharacters.ts";
import { handleCommand, loadState } from "../../commands/handleCommand.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { inboundSmsDecider, inboundSmsStreamId } from "../../domain/inboundSms/inboundSmsDecider.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { context } from "@opentelemetry/api";
import type { EventStore, RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import {
  activeTraceContext,
  contextOfEvent,
  inSpan,
  SpanKind,
} from "../../gateways/observability/traceContext.ts";
import { isValidTwilioSignature } from "../../gateways/sms/twilioSignature.ts";

export interface SmsWebhooksOptions {
  readonly store: EventStore;
  /** The providers whose callbacks are accepted, by the name in the callback URL. */
  readonly providers: readonly { readonly name: string; readonly authToken: string }[];
  /**
   * This app's base URL as the providers call it (scheme, host, port, path prefix; the routes are
   * `/sms/status` and `/sms/inbound` under it): signatures are over the URL the provider used,
   * which behind a proxy differs from the one this process sees.
   */
  readonly publicBaseUrl: string;
  /** For inbound keywords: the rules (the account decider's) and who holds a phone number. */
  readonly rules: readonly Rule[];
  readonly findAccountsByPhone: (phone: string) => Promise<readonly string[]>;
  /** The answer to HELP. */
  readonly helpText?: string;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly log: (message: string) => void;
}

/**
 * The providers' webhooks, form-encoded as Twilio posts them, each refused (403) without a valid
 * `X-Twilio-Signature` for the provider its URL names (`?provider=<name>`).
 *
 * Inbound messages (`POST /sms/inbound`): STOP (and the other opt-out keywords) and START (and
 * its synonyms) are recorded once per `MessageSid` on a stream of their own, with the accounts
 * then holding the sender's number, and go to each of those accounts as `ApplySmsKeyword`, whose
 * decider withdraws every class granted, gives back only what STOPs withdrew, and remembers the
 * message too: a replayed request reaches the same accounts, changes nothing, and gets the same
 * answer. HELP is answered with `helpText`; anything else is ignored. Answered in TwiML.
 *
 * Delivery reports (`POST /sms/status`). A report is
 * taken only with a valid `X-Twilio-Signature` for the provider its URL names (else 403), for a
 * notification that provider holds under the very message id reported (else 404 / 409); it
 * becomes `SmsStatusReported` through the notification decider, which keeps the lifecycle
 * forward-only, so a late, duplicate or replayed report changes nothing (answered 204 all the
 * same: the provider must not retry it).
 */
export function createSmsWebhooks(options: SmsWebhooksOptions): Koa {
  const accounts = accountDecider(options.rules);
  const router = new Router();
  router.post("/sms/status", async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string>;
    const providerName = typeof ctx.query.provider === "string" ? ctx.query.provider : "";
    const provider = options.providers.find((candidate) => candidate.name === providerName);
    if (provider === undefined || !signed(ctx, provider.authToken, form)) {
      options.log(`status webhook: refused a report with no valid signature (provider "${providerName}")`);
      return answer(ctx, 403, "no valid signature");
    }
    const notificationId = typeof ctx.query.reference === "string" ? ctx.query.reference : "";
    const messageSid = form.MessageSid ?? "";
    const status = form.MessageStatus ?? "";
    if (notificationId === "" || messageSid === "" || status === "") {
      return answer(ctx, 400, "reference, MessageSid and MessageStatus are required");
    }
    const streamId = notificationStreamId(notificationId);
    let { state } = await loadState(options.store, notificationDecider, streamId);
    // A fast report can overtake the gateway recording the provider's answer (the provider
    // reports "sent" before our SmsSubmitted is written). Providers do not send a refused report
    // again, so wait a moment for the answer rather than lose the report to the poller's delay.
    for (
      let waited = 0;
      waited < IN_FLIGHT_WAIT_MS && "attempt" in state && state.attempt?.outcome === "in-flight";
      waited += IN_FLIGHT_POLL_MS
    ) {
      await sleep(IN_FLIGHT_POLL_MS);
      ({ state } = await loadState(options.store, notificationDecider, streamId));
    }
    if (state.status === "absent") return answer(ctx, 404, `no notification ${notificationId}`);
    const attempt = "attempt" in state ? state.attempt : null;
    const submittedAs =
      attempt !== null && attempt.outcome === "submitted" ? attempt.providerMessageId : undefined;
    if (submittedAs !== messageSid) {
      return answer(ctx, 409, `message ${messageSid} is not the one submitted for ${notificationId}`);
    }
    // Providers send no trace context: the report joins the trace of the submission it is about.
    const submission = await submissionEvent(options.store, streamId);
    const outcome = await inSpan(
      `sms status report ${status}`,
      SpanKind.SERVER,
      submission === undefined ? context.active() : contextOfEvent(submission.metadata),
      { "tidemark.notification.id": notificationId, "tidemark.provider": provider.name },
      () =>
        handleCommand(
          options.store,
          notificationDecider,
          streamId,
          {
            type: "ReportSmsStatus",
            data: {
              notificationId,
              provider: provider.name,
              dialect: "twilio",
              rawStatus: status,
              errorCode: form.ErrorCode ?? null,
              via: "webhook",
              reportedAt: epochMsToInstant(options.clock()),
            },
          },
          {
            retriesOnConflict: 3,
            newEventId: options.newEventId,
            metadata: {
              correlationId: notificationId,
              actor: `provider:${provider.name}`,
              ...activeTraceContext(),
            },
          },
        ),
    );
    if (outcome.outcome === "refused") return answer(ctx, 409, outcome.detail);
    ctx.status = 204;
    return undefined;
  });
  router.post("/sms/inbound", async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string>;
    const providerName = typeof ctx.query.provider === "string" ? ctx.query.provider : "";
    const provider = options.providers.find((candidate) => candidate.name === providerName);
    if (provider === undefined || !signed(ctx, provider.authToken, form)) {
      options.log(`inbound webhook: refused a message with no valid signature (provider "${providerName}")`);
      return answer(ctx, 403, "no valid signature");
    }
    const keyword = keywordOf(form.Body ?? "");
    const from = form.From ?? "";
    const messageId = form.MessageSid ?? "";
    if (keyword === "help") return twiml(ctx, options.helpText ?? DEFAULT_HELP);
    if (keyword === undefined || from === "") return twiml(ctx);
    // Without the provider's id a message cannot be told from its replay.
    if (!MESSAGE_ID.test(messageId))
      return answer(ctx, 400, "MessageSid is required (letters, digits, _ or -)");
    const now = epochMsToInstant(options.clock());
    const metadata = { correlationId: messageId, actor: `sms-keyword:${provider.name}` };
    const streamId = inboundSmsStreamId(provider.name, messageId);
    let message = (await loadState(options.store, inboundSmsDecider, streamId)).state;
    if (message.status === "absent") {
      const accountIds = await options.findAccountsByPhone(from);
      await handleCommand(
        options.store,
        inboundSmsDecider,
        streamId,
        { type: "ReceiveInboundSms", data: { provider: provider.name, messageId, keyword, accountIds, now } },
        // A racing delivery of the same message wins or loses; either way it is recorded once.
        { retriesOnConflict: 1, newEventId: options.newEventId, metadata },
      );
      message = (await loadState(options.store, inboundSmsDecider, streamId)).state;
    }
    if (message.status === "absent") return answer(ctx, 503, `message ${messageId} not recorded; try again`);
    for (const accountId of message.accountIds) {
      const outcome = await handleCommand(
        options.store,
        accounts,
        `account-${accountId}`,
        {
          type: "ApplySmsKeyword",
          data: { keyword: message.keyword, provider: provider.name, messageId, now },
        },
        // Replays racing the first delivery: the loser is decided again on fresh state.
        { retriesOnConflict: 3, newEventId: options.newEventId, metadata },
      );
      if (outcome.outcome === "refused") options.log(`inbound webhook: ${accountId}: ${outcome.detail}`);
      if (outcome.outcome === "revision_mismatch") {
        // Not recorded: answer so the provider delivers the message again.
        return answer(ctx, 503, `account ${accountId} is busy; try again`);
      }
    }
    return twiml(ctx);
  });

  /** Whether the request carries the provider's signature over the URL it was sent to. */
  const signed = (ctx: Context, authToken: string, form: Record<string, string>) =>
    isValidTwilioSignature(
      authToken,
      `${options.publicBaseUrl}${ctx.path}${ctx.querystring === "" ? "" : `?${ctx.querystring}`}`,
      form,
      ctx.get("x-twilio-signature"),
    );

  const app = new Koa();
  app.use(problemAnswers());
  app.use(bodyParser({ enableTypes: ["form"], formLimit: "16kb" }));
  app.use(refuseControlCharacters("free-text"));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/** The notification's latest `SmsSubmitted`, whose trace a report continues. */
async function submissionEvent(store: EventStore, streamId: string): Promise<RecordedEvent | undefined> {
  for await (const event of store.readStream(streamId, { direction: "backwards", maxCount: 20 })) {
    if (event.type === "SmsSubmitted") return event;
  }
  return undefined;
}

// A provider's message id, as it goes into a stream id (Twilio's are "SM" and 32 hex digits).
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
// How long a report for a submission still in flight waits for the provider's answer to be recorded.
const IN_FLIGHT_WAIT_MS = 3000;
const IN_FLIGHT_POLL_MS = 50;
const DEFAULT_HELP = "Tidemark balance alerts. Reply STOP to stop all messages, START to receive them again.";

/** The carrier-standard keywords (case and surrounding spaces ignored); anything else is not a keyword. */
function keywordOf(body: string): "stop" | "start" | "help" | undefined {
  const word = body.trim().toUpperCase();
  if (["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"].includes(word)) return "stop";
  if (["START", "YES", "UNSTOP"].includes(word)) return "start";
  if (["HELP", "INFO"].includes(word)) return "help";
  return undefined;
}

/** A TwiML answer: the provider sends `message` back to the customer (none: nothing). */
function twiml(ctx: Context, message?: string): undefined {
  const escaped = message?.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  ctx.type = "text/xml";
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Response>${escaped === undefined ? "" : `<Message>${escaped}</Message>`}</Response>`;
  return undefined;
}

function answer(ctx: Context, status: number, detail: string): undefined {
  ctx.status = status;
  ctx.body = { status, detail };
  return undefined;
}
