import { bodyParser } from "@koa/bodyparser";
import type Router from "@koa/router";
import Koa from "koa";
import helmet from "koa-helmet";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { Logger } from "pino";
import type { Rule } from "../../domain/rules/Rule.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { Templates } from "../templates/loadTemplates.ts";
import { accountRoutes } from "./accountRoutes.ts";
import { notificationRoutes } from "./notificationRoutes.ts";
import { rawBodyOf, type IdempotencyStore } from "./IdempotencyStore.ts";
import { jsonDepth } from "../../http/jsonDepth.ts";
import { openApiDocument } from "./openApiDocument.ts";
import { rateLimited } from "./rateLimited.ts";
import { refuseControlCharacters } from "../../http/refuseControlCharacters.ts";
import type { ApiKeys } from "../../http/ApiKeys.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { problemMiddleware } from "../../http/problemMiddleware.ts";

export interface CommandApiDependencies {
  readonly store: EventStore;
  readonly rules: readonly Rule[];
  /** How far a pushed balance's referenceTime may lie from now; undefined: the domain's default. */
  readonly referenceTimeBounds?: ReferenceTimeBounds;
  readonly templates: Templates;
  readonly apiKeys: ApiKeys;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Durable Idempotency-Key answers for POSTs. */
  readonly idempotency: IdempotencyStore;
  /** Per-API-key request budget (memory, or Redis with a memory insurance limiter). */
  readonly rateLimiter: RateLimiterAbstract;
  /** Largest JSON body accepted (default 64 kB). */
  readonly maxBodyBytes?: number;
  /** Routes the process adds beside the commands (health, readiness). */
  readonly extraRoutes?: readonly Router[];
}

// No command body nests more than a few levels; deeper is an attack or a bug.
const MAX_JSON_DEPTH = 32;

/** The command API (Koa): errors first, then security headers, body parsing, routes. */
export function createCommandApi(dependencies: CommandApiDependencies): Koa {
  const app = new Koa({ proxy: false });
  app.use(problemMiddleware(dependencies.logger));
  app.use(helmet());
  app.use(async (ctx, next) => {
    if (ctx.method === "POST" || ctx.method === "PUT") {
      // RFC 9112 §6.3: a body is announced by Transfer-Encoding (chunked) or a Content-Length.
      const length = ctx.get("content-length");
      if (ctx.get("transfer-encoding") !== "" || (length !== "" && length !== "0")) {
        if (!ctx.is("application/json")) {
          throw new ProblemError("unsupported_media_type", "send Content-Type: application/json");
        }
        // The body parser would read any declared charset as UTF-8 all the same (RFC 8259: JSON
        // between systems is UTF-8), so another one is refused rather than misread.
        const charset = ctx.request.charset.toLowerCase();
        if (charset !== "" && charset !== "utf-8" && charset !== "utf8") {
          throw new ProblemError("unsupported_media_type", `send UTF-8 JSON, not charset=${charset}`);
        }
      }
    }
    await next();
  });
  app.use(
    bodyParser({
      enableTypes: ["json"],
      jsonLimit: dependencies.maxBodyBytes ?? 64 * 1024,
      jsonStrict: true,
      encoding: "utf-8",
    }),
  );
  app.use(async (ctx, next) => {
    if (jsonDepth(rawBodyOf(ctx)) > MAX_JSON_DEPTH) {
      throw new ProblemError("invalid_request", `the body nests deeper than ${MAX_JSON_DEPTH} levels`, {
        errors: [{ field: "body", problem: `nests deeper than ${MAX_JSON_DEPTH} levels` }],
      });
    }
    await next();
  });
  app.use(refuseControlCharacters("single-line"));
  const document = JSON.stringify(openApiDocument());
  app.use(async (ctx, next) => {
    if (ctx.method === "GET" && ctx.path === "/openapi.json") {
      ctx.type = "application/json";
      ctx.body = document;
      return;
    }
    await next();
  });
  const guards = {
    idempotent: dependencies.idempotency.middleware,
    limited: rateLimited(dependencies.rateLimiter),
  };
  const commandRoutes = [
    accountRoutes({ ...dependencies, ...guards }),
    notificationRoutes({ ...dependencies, ...guards }),
  ];
  for (const routes of [...(dependencies.extraRoutes ?? []), ...commandRoutes]) {
    app.use(routes.routes());
    app.use(routes.allowedMethods({ throw: false }));
  }
  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined)
      throw new ProblemError("not_found", `no route ${ctx.method} ${ctx.path}`);
  });
  return app;
}
