import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import type Koa from "koa";
import type { Context, Next } from "koa";
import { createEdgeApp } from "../../http/createEdgeApp.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { refuseControlCharacters } from "../../http/refuseControlCharacters.ts";
import type { RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { isValidTwilioSignature } from "../../gateways/sms/twilioSignature.ts";
import { smsKeywords } from "../smsKeywords.ts";
import { smsStatusReports } from "../smsStatusReports.ts";
import type { Logger } from "pino";

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
  readonly rules: RulesInForce;
  readonly findAccountsByPhone: (phone: string) => Promise<readonly string[]>;
  /** The answer to HELP. */
  readonly helpText?: string;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly logger: Logger;
}

/**
 * The providers' webhooks, form-encoded as Twilio posts them, each refused (403) without a valid
 * `X-Twilio-Signature` for the provider its URL names (`?provider=<name>`). Built on the shared
 * HTTP edge (`http/`): every error is answered as problem+json (a provider reads only the
 * status), successes as TwiML or 204. It checks and parses; what a report or a keyword changes is decided by the reactors
 * `smsStatusReports` and `smsKeywords`, whose outcomes it answers.
 *
 * Inbound messages (`POST /sms/inbound`): STOP (and the other opt-out keywords) and START (and
 * its synonyms) go to `smsKeywords` (recorded once per `MessageSid`, then applied to each account
 * holding the sender's number; a replayed request changes nothing and gets the same answer).
 * HELP is answered with `helpText`; anything else is ignored. Answered in TwiML.
 *
 * Delivery reports (`POST /sms/status`) go to `smsStatusReports`: 404 for no such notification,
 * 409 for a message id other than the one the provider was handed, or a report the decider
 * refuses; a late, duplicate or replayed report changes nothing and is answered 204 all the same
 * (the provider must not retry it).
 */
export function createSmsWebhooks(options: SmsWebhooksOptions): Koa {
  const reports = smsStatusReports(options);
  const keywords = smsKeywords(options);
  const router = new Router();
  router.post("/sms/status", async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string>;
    const providerName = typeof ctx.query.provider === "string" ? ctx.query.provider : "";
    const provider = options.providers.find((candidate) => candidate.name === providerName);
    if (provider === undefined || !signed(ctx, provider.authToken, form)) {
      options.logger.warn(
        `status webhook: refused a report with no valid signature (provider "${providerName}")`,
      );
      throw new ProblemError("invalid_signature", "no valid signature");
    }
    const notificationId = typeof ctx.query.reference === "string" ? ctx.query.reference : "";
    const messageSid = form.MessageSid ?? "";
    const status = form.MessageStatus ?? "";
    if (notificationId === "" || messageSid === "" || status === "") {
      throw new ProblemError("invalid_request", "reference, MessageSid and MessageStatus are required");
    }
    const outcome = await reports.record({
      notificationId,
      provider: provider.name,
      messageSid,
      rawStatus: status,
      errorCode: form.ErrorCode ?? null,
    });
    if (outcome.outcome !== "recorded") {
      throw new ProblemError(
        outcome.outcome === "no-such-notification" ? "not_found" : "refused",
        outcome.detail,
      );
    }
    ctx.status = 204;
    return undefined;
  });
  router.post("/sms/inbound", async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string>;
    const providerName = typeof ctx.query.provider === "string" ? ctx.query.provider : "";
    const provider = options.providers.find((candidate) => candidate.name === providerName);
    if (provider === undefined || !signed(ctx, provider.authToken, form)) {
      options.logger.warn(
        `inbound webhook: refused a message with no valid signature (provider "${providerName}")`,
      );
      throw new ProblemError("invalid_signature", "no valid signature");
    }
    const keyword = keywordOf(form.Body ?? "");
    const from = form.From ?? "";
    const messageId = form.MessageSid ?? "";
    if (keyword === "help") return twiml(ctx, options.helpText ?? DEFAULT_HELP);
    if (keyword === undefined || from === "") return twiml(ctx);
    // Without the provider's id a message cannot be told from its replay.
    if (!MESSAGE_ID.test(messageId))
      throw new ProblemError("invalid_request", "MessageSid is required (letters, digits, _ or -)");
    const outcome = await keywords.apply({ provider: provider.name, messageId, keyword, from });
    if (outcome.outcome === "try-again")
      throw new ProblemError("unavailable", outcome.detail, {}, { expected: true });
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

  const app = createEdgeApp(options.logger);
  app.use(noRouteIsAProblem);
  app.use(bodyParser({ enableTypes: ["form"], formLimit: "16kb" }));
  app.use(refuseControlCharacters("free-text"));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

// A provider's message id, as it goes into a stream id (Twilio's are "SM" and 32 hex digits).
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
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

/** The router's answers without a body (no such path, or not this method) as problem+json too. */
async function noRouteIsAProblem(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.body !== undefined && ctx.body !== null) return;
  if (ctx.status === 404) throw new ProblemError("not_found", `no route ${ctx.method} ${ctx.path}`);
  if (ctx.status === 405)
    throw new ProblemError("method_not_allowed", `${ctx.path} takes ${ctx.response.get("allow")}`);
}
