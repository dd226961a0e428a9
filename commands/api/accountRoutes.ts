import { randomUUID } from "node:crypto";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import Router, { type RouterMiddleware } from "@koa/router";
import type { Context, Middleware } from "koa";
import { z } from "zod";
import type { AccountCommand } from "../../domain/account/AccountCommand.ts";
import { accountDecider, accountStreamId, type AccountRefusal } from "../../domain/account/accountDecider.ts";
import { unreachable } from "../../domain/Decider.ts";
import { perRuleBook, type RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant, type Instant } from "../../domain/values/Instant.ts";
import { MESSAGE_CLASSES } from "../../domain/values/MessageClass.ts";
import { parsePhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import { parseTimeZone } from "../../domain/values/TimeZone.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { handleCommand } from "../handleCommand.ts";
import { StateCache } from "../StateCache.ts";
import type { ApiKeys, Scope } from "../../http/ApiKeys.ts";
import { answerCommand, ifMatchRevision, requestMetadata } from "./commandAnswers.ts";
import { parseRequest, rejectIfAny } from "../../http/parseRequest.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { ACCOUNT_ID, balanceBody, CURRENCY, parseBalancePush } from "../balances/balancePush.ts";

/** What the account routes need; `clock` is the edge's, so the domain gets `now` as data. */
export interface AccountRoutesDependencies {
  readonly store: EventStore;
  readonly rules: RulesInForce;
  /** How far a pushed balance's referenceTime may lie from now; undefined: the domain's default. */
  readonly referenceTimeBounds?: ReferenceTimeBounds;
  readonly apiKeys: ApiKeys;
  readonly clock: () => number;
  /** Runs after authentication on every POST: replays answers for a repeated Idempotency-Key. */
  readonly idempotent: Middleware;
  /** Runs after authentication on every route: the per-key rate limit. */
  readonly limited: Middleware;
}

const PHONE = z
  .string()
  .max(32)
  .refine((text) => parsePhoneNumber(text) !== undefined, {
    message: "must be a valid phone number in E.164 form, e.g. +447911123456",
  });
const TIME_ZONE = z
  .string()
  .max(64)
  .refine((text) => parseTimeZone(text) !== undefined, {
    message: "must be an IANA time zone, e.g. Europe/London",
  });
const openAccountBody = z
  .object({
    accountId: ACCOUNT_ID.optional(),
    customerId: z.string().min(1).max(128),
    phone: PHONE,
    currency: CURRENCY,
    timeZone: TIME_ZONE,
    consents: z.object({ service: z.boolean(), marketing: z.boolean() }).strict(),
  })
  .strict();
const contactBody = z.object({ phone: PHONE }).strict();
const consentBody = z
  .object({ granted: z.boolean(), source: z.enum(["api", "import"]).default("api") })
  .strict();
const refreshBody = z.object({ reason: z.literal("manual").default("manual") }).strict();
const closeBody = z.object({ reason: z.string().max(500).optional() }).strict();
const accountParams = z.object({ id: ACCOUNT_ID });

/** The request bodies, shared with the OpenAPI document so that the two never disagree. */
export const accountBodies = {
  openAccount: openAccountBody,
  changeContact: contactBody,
  changeConsent: consentBody,
  recordBalance: balanceBody,
  requestBalanceRefresh: refreshBody,
  closeAccount: closeBody,
} as const;
const consentParams = z.object({ id: ACCOUNT_ID, class: z.enum(MESSAGE_CLASSES as [string, ...string[]]) });

/**
 * The account commands of the command API. Every body and parameter is validated (400 listing
 * every bad field), the command decided on the stream (`If-Match` → 412 on another revision,
 * refusals → 404, 409, or 422 for a balance that cannot count, with the domain's code), and
 * answers carry the stream id, the new revision and the global position of the append.
 */
export function accountRoutes(dependencies: AccountRoutesDependencies): Router {
  const { apiKeys, clock, idempotent, limited } = dependencies;
  const post = (scope: Scope) => [apiKeys.require(scope), limited, idempotent] as const;
  const put = (scope: Scope) => [apiKeys.require(scope), limited] as const;
  const commands: AccountCommands = {
    run: accountCommandRunner(dependencies),
    now: () => epochMsToInstant(clock()),
  };
  const router = new Router();
  router.post("/accounts", ...post("accounts:write"), openAccount(commands));
  router.put("/accounts/:id/contact", ...put("accounts:write"), changeContact(commands));
  router.put("/accounts/:id/consents/:class", ...put("accounts:write"), changeConsent(commands));
  router.post("/accounts/:id/balances", ...post("balances:write"), recordBalance(commands));
  router.post("/accounts/:id/balance-refreshes", ...post("balances:write"), requestBalanceRefresh(commands));
  router.post("/accounts/:id/close", ...post("accounts:write"), closeAccount(commands));
  return router;
}

/** What every account route hands its parsed command to. */
interface AccountCommands {
  /** Decides `command` on the account's stream and answers it, with `status` when accepted. */
  readonly run: (ctx: Context, accountId: string, command: AccountCommand, status: number) => Promise<void>;
  /** The edge's clock as the domain's instant, put into every command. */
  readonly now: () => Instant;
}

/**
 * One decider and one state cache for all the account routes of a router, both made again when a
 * new rule set comes into force: a state folded under other rules is not this decider's state.
 */
function accountCommandRunner(dependencies: AccountRoutesDependencies): AccountCommands["run"] {
  const { store } = dependencies;
  const deciding = perRuleBook(dependencies.rules, (inForce, book) => ({
    decider: accountDecider(inForce, dependencies.referenceTimeBounds, book.version),
    cache: new StateCache<unknown>(),
  }));
  return async (ctx, accountId, command, status) => {
    const { decider, cache } = deciding();
    const streamId = accountStreamId(accountId);
    const expectedRevision = ifMatchRevision(ctx.get("if-match"));
    const outcome = await handleCommand(store, decider, streamId, command, {
      ...(expectedRevision === undefined ? { retriesOnConflict: 3 } : { expectedRevision }),
      newEventId,
      metadata: requestMetadata(ctx),
      cache,
    });
    answerCommand(ctx, { accountId }, streamId, outcome, status, problemCodeOfRefusal);
  };
}

/** How the command API answers each refusal of the account decider. */
function problemCodeOfRefusal(code: AccountRefusal): "not_found" | "refused" | "unprocessable" {
  switch (code) {
    case "account_not_found":
      return "not_found";
    case "reference_time_out_of_bounds":
    case "currency_mismatch":
    case "balance_type_not_current":
      return "unprocessable";
    case "account_already_exists":
    case "account_closed":
      return "refused";
    default:
      return unreachable(code);
  }
}

/** `POST /accounts`: the account id is the body's, or a new UUID. */
function openAccount({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const body = parseRequest("body", openAccountBody, ctx.request.body);
    const accountId = body.accountId ?? randomUUID();
    await run(
      ctx,
      accountId,
      {
        type: "OpenAccount",
        data: {
          accountId,
          customerId: body.customerId,
          phone: parsePhoneNumber(body.phone) ?? unreachableValidation(),
          currency: body.currency,
          timeZone: parseTimeZone(body.timeZone) ?? unreachableValidation(),
          consents: body.consents,
          now: now(),
        },
      },
      201,
    );
  };
}

/** `PUT /accounts/{id}/contact`. */
function changeContact({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const { id } = parseRequest("params", accountParams, ctx.params);
    const body = parseRequest("body", contactBody, ctx.request.body);
    const phone = parsePhoneNumber(body.phone) ?? unreachableValidation();
    await run(ctx, id, { type: "ChangeContact", data: { phone, now: now() } }, 200);
  };
}

/** `PUT /accounts/{id}/consents/{class}`: an empty body grants nothing and is a 400. */
function changeConsent({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const params = parseRequest("params", consentParams, ctx.params);
    const body = parseRequest("body", consentBody, ctx.request.body ?? {});
    const messageClass = params.class as (typeof MESSAGE_CLASSES)[number];
    await run(
      ctx,
      params.id,
      {
        type: "ChangeConsent",
        data: { messageClass, granted: body.granted, source: body.source, now: now() },
      },
      200,
    );
  };
}

/**
 * `POST /accounts/{id}/balances`, the core banking's push: every bad amount is a 400; a balance
 * type that is not today's balance a 422 before the domain is asked.
 */
function recordBalance({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const { id } = parseRequest("params", accountParams, ctx.params);
    const parsed = parseBalancePush(ctx.request.body, now());
    if (parsed.kind === "invalid") rejectIfAny(parsed.problems);
    if (parsed.kind === "not_current") {
      throw new ProblemError("unprocessable", parsed.detail, { reason: "balance_type_not_current" });
    }
    if (parsed.kind !== "command") return;
    await run(ctx, id, parsed.command, 202);
  };
}

/** `POST /accounts/{id}/balance-refreshes`: asks for the balance to be pulled from the bank. */
function requestBalanceRefresh({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const { id } = parseRequest("params", accountParams, ctx.params);
    const body = parseRequest("body", refreshBody, ctx.request.body ?? {});
    await run(ctx, id, { type: "RequestBalanceRefresh", data: { reason: body.reason, now: now() } }, 202);
  };
}

/** `POST /accounts/{id}/close`. */
function closeAccount({ run, now }: AccountCommands): RouterMiddleware {
  return async (ctx) => {
    const { id } = parseRequest("params", accountParams, ctx.params);
    const body = parseRequest("body", closeBody, ctx.request.body ?? {});
    await run(ctx, id, { type: "CloseAccount", data: { reason: body.reason ?? null, now: now() } }, 200);
  };
}

/**
 * The body's credit lines; from `creditLineIncluded` alone (older clients), one line of unknown
 * type and amount. Problems are added to `problems`.
 */
/** The zod schema already checked this value; reaching here is a bug, not bad input. */
function unreachableValidation(): never {
  throw new Error("a value passed validation but failed to parse");
}
