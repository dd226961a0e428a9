import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { handleCommand, loadState } from "../../commands/handleCommand.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { EventStore } from "../eventStore/EventStore.ts";
import { isValidTwilioSignature } from "./twilioSignature.ts";

export interface StatusWebhookOptions {
  readonly store: EventStore;
  /** The providers whose callbacks are accepted, by the name in the callback URL. */
  readonly providers: readonly { readonly name: string; readonly authToken: string }[];
  /**
   * The callback URL as the providers call it (scheme, host, port, path): signatures are over the
   * URL the provider used, which behind a proxy differs from the one this process sees.
   */
  readonly publicUrl: string;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly log: (message: string) => void;
}

/**
 * The delivery-report webhook (`POST /sms/status`, form-encoded as Twilio posts it). A report is
 * taken only with a valid `X-Twilio-Signature` for the provider its URL names (else 403), for a
 * notification that provider holds under the very message id reported (else 404 / 409); it
 * becomes `SmsStatusReported` through the notification decider, which keeps the lifecycle
 * forward-only, so a late, duplicate or replayed report changes nothing (answered 204 all the
 * same: the provider must not retry it).
 */
export function createStatusWebhook(options: StatusWebhookOptions): Koa {
  const router = new Router();
  router.post("/sms/status", async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string>;
    const providerName = typeof ctx.query.provider === "string" ? ctx.query.provider : "";
    const provider = options.providers.find((candidate) => candidate.name === providerName);
    const url = `${options.publicUrl}${ctx.querystring === "" ? "" : `?${ctx.querystring}`}`;
    if (
      provider === undefined ||
      !isValidTwilioSignature(provider.authToken, url, form, ctx.get("x-twilio-signature"))
    ) {
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
    const { state } = await loadState(options.store, notificationDecider, streamId);
    if (state.status === "absent") return answer(ctx, 404, `no notification ${notificationId}`);
    const attempt = "attempt" in state ? state.attempt : null;
    const submittedAs =
      attempt !== null && attempt.outcome === "submitted" ? attempt.providerMessageId : undefined;
    if (submittedAs !== messageSid) {
      return answer(ctx, 409, `message ${messageSid} is not the one submitted for ${notificationId}`);
    }
    const outcome = await handleCommand(
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
        metadata: { correlationId: notificationId, actor: `provider:${provider.name}` },
      },
    );
    if (outcome.outcome === "refused") return answer(ctx, 409, outcome.detail);
    ctx.status = 204;
    return undefined;
  });
  const app = new Koa();
  app.use(bodyParser({ enableTypes: ["form"], formLimit: "16kb" }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

function answer(ctx: Context, status: number, detail: string): undefined {
  ctx.status = status;
  ctx.body = { status, detail };
  return undefined;
}
