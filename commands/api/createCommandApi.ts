import type Router from "@koa/router";
import type Koa from "koa";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { Logger } from "pino";
import { ruleRoutes, type PublishingRules } from "./ruleRoutes.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { Templates } from "../templates/loadTemplates.ts";
import { accountRoutes } from "./accountRoutes.ts";
import { balanceImportOpenApiPaths, balanceImportRoutes } from "./balanceImportRoutes.ts";
import type { BalanceImportRunner } from "../balances/BalanceImportRunner.ts";
import type { BalanceImports } from "../balances/BalanceImports.ts";
import { notificationRoutes } from "./notificationRoutes.ts";
import type { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { openApiDocument } from "./openApiDocument.ts";
import { rateLimited } from "./rateLimited.ts";
import { refuseControlCharacters } from "../../http/refuseControlCharacters.ts";
import type { ApiKeys } from "../../http/ApiKeys.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { createEdgeApp } from "../../http/createEdgeApp.ts";
import { jsonBodies } from "../../http/jsonBodies.ts";

export interface CommandApiDependencies {
  readonly store: EventStore;
  /** The rules in force, kept current; the rule routes publish new versions. */
  readonly rules: PublishingRules;
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
  /** Bulk balance files (`POST /balance-imports`); absent: not offered. */
  readonly balanceImports?: { readonly runner: BalanceImportRunner; readonly imports: BalanceImports };
  /** Routes the process adds beside the commands (health, readiness). */
  readonly extraRoutes?: readonly Router[];
}

// No command body nests more than a few levels; deeper is an attack or a bug.
const MAX_JSON_DEPTH = 32;

/** The command API (Koa): the shared edge (errors, security headers, bounded JSON bodies), then routes. */
export function createCommandApi(dependencies: CommandApiDependencies): Koa {
  const app = createEdgeApp(dependencies.logger);
  const guards = {
    idempotent: dependencies.idempotency.middleware,
    limited: rateLimited(dependencies.rateLimiter),
  };
  // Before the JSON body parser: these bodies are files, streamed to disk.
  if (dependencies.balanceImports !== undefined) {
    app.use(
      balanceImportRoutes({
        ...dependencies.balanceImports,
        apiKeys: dependencies.apiKeys,
        limited: guards.limited,
      }).routes(),
    );
  }
  for (const step of jsonBodies({
    maxBytes: dependencies.maxBodyBytes ?? 64 * 1024,
    maxDepth: MAX_JSON_DEPTH,
  }))
    app.use(step);
  app.use(refuseControlCharacters("single-line"));
  const document = JSON.stringify(
    openApiDocument(dependencies.balanceImports === undefined ? {} : balanceImportOpenApiPaths()),
  );
  app.use(async (ctx, next) => {
    if (ctx.method === "GET" && ctx.path === "/openapi.json") {
      ctx.type = "application/json";
      ctx.body = document;
      return;
    }
    await next();
  });
  const commandRoutes = [
    accountRoutes({ ...dependencies, ...guards }),
    notificationRoutes({ ...dependencies, ...guards }),
    ruleRoutes({ ...dependencies, ...guards }),
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
