import Router from "@koa/router";
import type { Context, Next } from "koa";
import type { ApiKeys } from "../../../http/ApiKeys.ts";
import { jsonBodies } from "../../../http/jsonBodies.ts";
import { ProblemError } from "../../../http/ProblemError.ts";
import { refuseControlCharacters } from "../../../http/refuseControlCharacters.ts";
import { databaseDown } from "../databaseDown.ts";
import { deadLetterRoutes } from "./deadLetterRoutes.ts";
import { providerRoutes } from "./providerRoutes.ts";
import { readModelRoutes } from "./readModelRoutes.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";
import { ruleRoutes } from "./ruleRoutes.ts";
import { backtestRoutes } from "./backtestRoutes.ts";

// An operations body is a list of event ids at most.
const MAX_BODY_BYTES = 64 * 1024;
const MAX_JSON_DEPTH = 4;
// A backtest's body carries a rule set: {document: {rules: [{thresholds: {GBP: {below}}}]}}.
const MAX_RULESET_DEPTH = 8;

/**
 * The operator console's operations page, under `/operations`: read models (status, lag, builds,
 * last error; rebuild with live progress for `admin`), dead letters (list; requeue for `admin`),
 * provider health, the event log's head and the rules in force. Reads need `queries:read`.
 * Answers are live (`Cache-Control: no-store`), never from the query cache.
 */
export function operationsRoutes(dependencies: OperationsDependencies, apiKeys: ApiKeys): Router {
  const guards: OperationsGuards = {
    read: apiKeys.require("queries:read"),
    admin: [
      apiKeys.require("admin"),
      ...jsonBodies({ maxBytes: MAX_BODY_BYTES, maxDepth: MAX_JSON_DEPTH }),
      refuseControlCharacters("single-line"),
      dependencies.idempotency.middleware,
    ],
    rulesWrite: [
      apiKeys.require("rules:write"),
      ...jsonBodies({ maxBytes: MAX_BODY_BYTES, maxDepth: MAX_RULESET_DEPTH }),
      refuseControlCharacters("single-line"),
      dependencies.idempotency.middleware,
    ],
  };
  const router = new Router();
  router.use(liveAnswers);
  for (const addRoutes of [readModelRoutes, deadLetterRoutes, providerRoutes, ruleRoutes, backtestRoutes]) {
    addRoutes(router, dependencies, guards);
  }
  return router;
}

const UNDEFINED_TABLE = "42P01";

/** Every answer is of now (never cached); a database that does not answer is a 503. */
async function liveAnswers(ctx: Context, next: Next): Promise<void> {
  ctx.set("Cache-Control", "no-store");
  try {
    await next();
  } catch (error) {
    if (databaseDown(error))
      throw new ProblemError("unavailable", "the database does not answer; retry later");
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE) {
      throw new ProblemError(
        "unavailable",
        "the read model is not built yet; the projector creates it on start",
      );
    }
    throw error;
  }
}
