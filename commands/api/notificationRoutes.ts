import { randomUUID } from "node:crypto";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { z } from "zod";
import { accountDecider, accountStreamId } from "../../domain/account/accountDecider.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { MESSAGE_CLASSES, type MessageClass } from "../../domain/values/MessageClass.ts";
import { parsePhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { handleCommand, loadState } from "../handleCommand.ts";
import type { Templates } from "../templates/loadTemplates.ts";
import type { ApiCaller, ApiKeys } from "../../http/ApiKeys.ts";
import { answerCommand, ifMatchRevision, requestMetadata } from "./commandAnswers.ts";
import { parseRequest } from "../../http/parseRequest.ts";
import { ProblemError } from "../../http/ProblemError.ts";

export interface NotificationRoutesDependencies {
  readonly store: EventStore;
  readonly templates: Templates;
  readonly apiKeys: ApiKeys;
  readonly clock: () => number;
  readonly idempotent: Middleware;
  readonly limited: Middleware;
}

const HOUR_MS = 3_600_000;
const ID = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: "must be 1-64 letters, digits, _ or -" });

const requestBody = z
  .object({
    notificationId: z.uuid({ message: "must be a UUID" }).optional(),
    accountId: ID,
    messageClass: z.enum(MESSAGE_CLASSES as [string, ...string[]]),
    templateId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, { message: "must be a template id such as low-balance" }),
    variables: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/), z.string().max(200)).default({}),
    validForHours: z.number().int().min(1).max(72).default(24),
  })
  .strict();
const cancelBody = z.object({}).strict();
const notificationParams = z.object({ id: z.uuid({ message: "must be a UUID" }) });

/** The request bodies, shared with the OpenAPI document. */
export const notificationBodies = {
  requestNotification: requestBody,
  cancelNotification: cancelBody,
} as const;

/**
 * Operator and campaign notifications: `POST /notifications` renders a template for an account's
 * current phone (404 for an unknown account, 409 for a closed one) into a new notification stream;
 * `POST /notifications/{id}/cancel` cancels one that has not gone to a provider yet.
 */
export function notificationRoutes(dependencies: NotificationRoutesDependencies): Router {
  const { store, templates, apiKeys, clock, idempotent, limited } = dependencies;
  const accounts = accountDecider([]);
  const router = new Router();
  const guard = [apiKeys.require("notifications:write"), limited, idempotent] as const;

  router.post("/notifications", ...guard, async (ctx: Context) => {
    const body = parseRequest("body", requestBody, ctx.request.body);
    const template = templates.get(body.templateId);
    if (template === undefined) {
      throw new ProblemError("invalid_request", `no template ${body.templateId}`, {
        errors: [
          {
            field: "body.templateId",
            problem: `unknown template (known: ${[...templates.keys()].join(", ")})`,
          },
        ],
      });
    }
    const { state: account } = await loadState(store, accounts, accountStreamId(body.accountId));
    if (account.status === "absent") throw new ProblemError("not_found", `no account ${body.accountId}`);
    if (account.status === "closed") {
      throw new ProblemError("refused", `account ${body.accountId} is closed`, { reason: "account_closed" });
    }
    const recipient = parsePhoneNumber(account.phone);
    if (recipient === undefined) throw new Error(`account ${body.accountId} holds an invalid phone number`);
    const notificationId = body.notificationId ?? randomUUID();
    const now = clock();
    const outcome = await handleCommand(
      store,
      notificationDecider,
      notificationStreamId(notificationId),
      {
        type: "RequestNotification",
        data: {
          notificationId,
          accountId: body.accountId,
          messageClass: body.messageClass as MessageClass,
          templateId: body.templateId,
          template,
          variables: body.variables,
          recipient,
          validUntil: epochMsToInstant(now + body.validForHours * HOUR_MS),
          now: epochMsToInstant(now),
        },
      },
      {
        ...withIfMatch(ctx),
        newEventId,
        metadata: requestMetadata(ctx),
      },
    );
    answerCommand(ctx, { notificationId }, notificationStreamId(notificationId), outcome, 201, refusalStatus);
  });

  router.post("/notifications/:id/cancel", ...guard, async (ctx: Context) => {
    const { id } = parseRequest("params", notificationParams, ctx.params);
    parseRequest("body", cancelBody, ctx.request.body ?? {});
    const caller = ctx.state.caller as ApiCaller;
    const outcome = await handleCommand(
      store,
      notificationDecider,
      notificationStreamId(id),
      {
        type: "CancelNotification",
        data: { notificationId: id, by: `api-key:${caller.name}`, now: epochMsToInstant(clock()) },
      },
      { ...withIfMatch(ctx), newEventId, metadata: requestMetadata(ctx) },
    );
    answerCommand(ctx, { notificationId: id }, notificationStreamId(id), outcome, 200, refusalStatus);
  });

  return router;
}

function withIfMatch(ctx: Context): { expectedRevision: number } | { retriesOnConflict: number } {
  const expectedRevision = ifMatchRevision(ctx.get("if-match"));
  return expectedRevision === undefined ? { retriesOnConflict: 3 } : { expectedRevision };
}

/** `not_requested`: the notification does not exist (404); every other refusal is a 409. */
function refusalStatus(code: string): "not_found" | "refused" {
  return code === "not_requested" ? "not_found" : "refused";
}
