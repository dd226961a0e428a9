import { createHash } from "node:crypto";
import Router from "@koa/router";
import type Koa from "koa";
import type { Context } from "koa";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Rule } from "../../domain/rules/Rule.ts";
import { fixedRules, type RulesetHistory } from "../../domain/ruleset/RuleBook.ts";
import { rulesetOpenApiPaths, rulesetRoutes } from "./rulesetRoutes.ts";
import {
  DEFAULT_REFERENCE_TIME_BOUNDS,
  type ReferenceTimeBounds,
} from "../../domain/values/ReferenceTimeBounds.ts";
import { type ApiCaller, ApiKeys } from "../../http/ApiKeys.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { createEdgeApp } from "../../http/createEdgeApp.ts";
import { parseRequest } from "../../http/parseRequest.ts";
import { refuseControlCharacters } from "../../http/refuseControlCharacters.ts";
import { parsePosition, type Position } from "../../gateways/eventStore/Position.ts";
import { databaseDown } from "./databaseDown.ts";
import type { LivePositions } from "./LivePositions.ts";
import { operationsOpenApiPaths } from "./operations/operationsOpenApiPaths.ts";
import type { OperationsDependencies } from "./operations/OperationsDependencies.ts";
import { operationsRoutes } from "./operations/operationsRoutes.ts";
import type { CachedAnswer, QueryCache } from "./QueryCache.ts";
import { mergedPaths, queryOpenApiDocument } from "./queryOpenApiDocument.ts";
import type { QueryRoute } from "./QueryRoute.ts";

export interface QueryApiDependencies {
  readonly db: Kysely<unknown>;
  readonly readSchema: string;
  readonly positions: LivePositions;
  readonly cache: QueryCache;
  readonly apiKeys: ApiKeys;
  readonly logger: Logger;
  readonly routes: readonly QueryRoute[];
  /** Longest wait for the projections to pass a client's position before 503 (default 5 s). */
  readonly readYourWritesTimeoutMs?: number;
  /** How old the known live positions may be for a request without a position (default 20 ms). */
  readonly positionMaxAgeMs?: number;
  /** How long an answer stays cached (default 60 s); its key holds its position, so this only bounds memory. */
  readonly cacheTtlMs?: number;
  /** The rules in force, for the routes that explain them (none by default). */
  readonly rules?: RulesetHistory;
  /** The bounds the command side checks balances' reference times against (default: the defaults). */
  readonly referenceTimeBounds?: ReferenceTimeBounds;
  /** Routes the process adds (health, readiness). */
  readonly extraRoutes?: readonly Router[];
  /**
   * `GET /rules` and `POST /rules/versions` as the command API has them, for the console: the
   * routes, and their description for this API's OpenAPI document.
   */
  readonly rulePublishing?: {
    readonly routes: Router;
    readonly openApiPaths: Record<string, Record<string, unknown>>;
  };
  /** The operator console's operations routes (`/operations/…`); absent: not offered. */
  readonly operations?: OperationsDependencies;
}

const UNDEFINED_TABLE = "42P01";

const NO_RULES = fixedRules([]);
/**
 * The query API (Koa): read models by GET, behind `queries:read` keys. Every answer carries the
 * position it reflects at least (`X-Position`); a client that sends the position the command API
 * gave it (`X-Min-Position` or `minPosition`) gets an answer that includes its write, after a
 * bounded wait, or 503 with `Retry-After`. Answers are cached under a key that includes that
 * position, so a cached answer is never older than what was asked for, and carry a strong ETag.
 * With `operations`, the operator console's `/operations/…` routes too (live, uncached; their
 * actions need `admin`).
 */
export function createQueryApi(dependencies: QueryApiDependencies): Koa {
  const app = createEdgeApp(dependencies.logger);
  app.use(refuseControlCharacters("single-line"));
  const document = JSON.stringify(
    queryOpenApiDocument(
      dependencies.routes,
      mergedPaths(
        rulesetOpenApiPaths(),
        dependencies.rulePublishing?.openApiPaths ?? {},
        dependencies.operations === undefined ? {} : operationsOpenApiPaths(),
      ),
    ),
  );
  const router = new Router();
  router.get("/openapi.json", (ctx) => {
    ctx.type = "application/json";
    ctx.body = document;
  });
  // Who the key is and what it may do: how the console knows which controls to offer.
  router.get("/me", dependencies.apiKeys.require("queries:read"), (ctx) => {
    const caller = ctx.state.caller as ApiCaller;
    ctx.set("Cache-Control", "private, no-store");
    ctx.body = { name: caller.name, scopes: caller.scopes };
  });
  for (const route of dependencies.routes) {
    router.get(route.path, dependencies.apiKeys.require("queries:read"), (ctx) =>
      answerRoute(ctx, route, dependencies).catch((error: unknown) => {
        throw databaseDown(error)
          ? new ProblemError("unavailable", "the read models' database does not answer; retry later")
          : error;
      }),
    );
  }
  app.use(router.routes());
  app.use(router.allowedMethods());
  if (dependencies.rulePublishing !== undefined) app.use(dependencies.rulePublishing.routes.routes());
  const ruleset = rulesetRoutes(dependencies.rules ?? NO_RULES, dependencies.apiKeys);
  app.use(ruleset.routes());
  app.use(ruleset.allowedMethods());
  if (dependencies.operations !== undefined) {
    const operations = operationsRoutes(dependencies.operations, dependencies.apiKeys);
    app.use(operations.routes());
    app.use(operations.allowedMethods());
  }
  for (const extra of dependencies.extraRoutes ?? []) app.use(extra.routes());
  app.use((ctx) => {
    throw new ProblemError("not_found", `no route ${ctx.method} ${ctx.path}`);
  });
  return app;
}

async function answerRoute(
  ctx: Context,
  route: QueryRoute,
  dependencies: QueryApiDependencies,
): Promise<void> {
  const { minPosition: minFromQuery, format, ...query } = ctx.query;
  const minPosition = requestedPosition(ctx.get("x-min-position") || undefined, minFromQuery);
  const csv = parseFormat(format);
  if (csv && route.offersCsv !== true) {
    throw invalid("query.format", "csv is offered by the reports only");
  }
  const params: unknown = parseRequest("query", route.params, {
    ...query,
    ...(ctx.params as Record<string, string>),
  });
  const caller = ctx.state.caller as ApiCaller;
  const showPii = ApiKeys.allows(caller, "pii:read");

  let position: Position;
  if (minPosition === undefined) {
    position = await dependencies.positions.current(route.projections, dependencies.positionMaxAgeMs ?? 20);
  } else {
    const timeoutMs = dependencies.readYourWritesTimeoutMs ?? 5000;
    const reached = await dependencies.positions.waitFor(route.projections, minPosition, timeoutMs);
    if (reached === undefined) {
      throw new ProblemError(
        "unavailable",
        `the read model has not reached position ${minPosition} within ${timeoutMs} ms; retry later`,
        { minPosition },
        { expected: true },
      );
    }
    position = reached;
  }

  // Explanations read the rules: an answer is kept per rule set version as well as per position.
  const rules = (dependencies.rules ?? NO_RULES).current();
  const key = createHash("sha256")
    .update(JSON.stringify([route.path, params, showPii, csv, position, rules.version]))
    .digest("base64url");
  let answer = await dependencies.cache.get(key);
  if (answer === undefined) {
    answer = await computeAnswer(
      route,
      dependencies,
      { params, showPii, csv, rules: rules.inForce, publishedRules: rules.published },
      position,
    );
    if (answer === undefined) {
      throw new ProblemError("not_found", "no such resource in the read model", { position });
    }
    await dependencies.cache.set(key, answer, dependencies.cacheTtlMs ?? 60_000);
  }
  ctx.set("X-Position", answer.position);
  ctx.set("ETag", answer.etag);
  ctx.set("Cache-Control", "private, no-cache");
  ctx.set("Vary", "Authorization, X-Min-Position");
  if (matchesIfNoneMatch(ctx.get("if-none-match"), answer.etag)) {
    ctx.status = 304;
    return;
  }
  ctx.type = answer.contentType;
  ctx.body = answer.body;
  if (csv)
    ctx.set("Content-Disposition", `attachment; filename="${route.path.split("/").at(-1) ?? "report"}.csv"`);
}

async function computeAnswer(
  route: QueryRoute,
  dependencies: QueryApiDependencies,
  request: {
    params: unknown;
    showPii: boolean;
    csv: boolean;
    rules: readonly Rule[];
    publishedRules: readonly Rule[];
  },
  position: Position,
): Promise<CachedAnswer | undefined> {
  const { params, showPii, csv, rules, publishedRules } = request;
  let answer;
  try {
    answer = await route.answer(
      {
        readModel: <Tables>() => dependencies.db as Kysely<Tables>,
        readSchema: dependencies.readSchema,
        showPii,
        format: csv ? "csv" : "json",
        rules,
        publishedRules,
        referenceTimeBounds: dependencies.referenceTimeBounds ?? DEFAULT_REFERENCE_TIME_BOUNDS,
      },
      params,
    );
  } catch (error) {
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE) {
      throw new ProblemError(
        "unavailable",
        "the read model is not built yet; the projector creates it on start",
      );
    }
    throw error;
  }
  if (answer.kind === "not_found") return undefined;
  const body = answer.kind === "csv" ? answer.body : JSON.stringify(answer.body);
  return {
    contentType: answer.kind === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
    body,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
    position,
  };
}

/** The client's position from the header or the query parameter (both: they must agree). */
function requestedPosition(header: string | undefined, query: unknown): Position | undefined {
  if (query !== undefined && typeof query !== "string") {
    throw invalid("query.minPosition", "must be given once");
  }
  if (header !== undefined && query !== undefined && header !== query) {
    throw invalid("query.minPosition", "differs from the X-Min-Position header; send one");
  }
  const text = header ?? query;
  if (text === undefined) return undefined;
  const position = parsePosition(text);
  if (position === undefined) {
    throw invalid(
      header === undefined ? "query.minPosition" : "header.x-min-position",
      "must be a position as the command API returns it",
    );
  }
  return position;
}

/**
 * RFC 9110 §13.1.2: weak comparison against each listed tag, or `*`. Evaluated whatever the
 * request's Cache-Control says (fetch() adds `no-cache` to conditional requests; that directive
 * is for caches, not for the origin's validators).
 */
function matchesIfNoneMatch(header: string, etag: string): boolean {
  if (header === "") return false;
  if (header.trim() === "*") return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => opaque(tag) === opaque(etag));
}

function parseFormat(format: unknown): boolean {
  if (format === undefined || format === "json") return false;
  if (format === "csv") return true;
  throw invalid("query.format", "must be json or csv");
}

function invalid(field: string, problem: string): ProblemError {
  return new ProblemError("invalid_request", `${field} ${problem}`, { errors: [{ field, problem }] });
}
