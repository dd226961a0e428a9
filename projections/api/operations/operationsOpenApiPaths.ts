import { z } from "zod";
import type { Scope } from "../../../http/ApiKeys.ts";
import { backtestRequests } from "./backtestRoutes.ts";
import { deadLetterRequests } from "./deadLetterRoutes.ts";
import { providerRequests } from "./providerRoutes.ts";
import { readModelRequests } from "./readModelRoutes.ts";

const PROBLEM = { $ref: "#/components/responses/Problem" };
const READ_PROBLEMS = { "400": PROBLEM, "401": PROBLEM, "403": PROBLEM, "431": PROBLEM, "503": PROBLEM };
const ADMIN_PROBLEMS = {
  ...READ_PROBLEMS,
  "404": PROBLEM,
  "409": PROBLEM,
  "413": PROBLEM,
  "415": PROBLEM,
  "422": PROBLEM,
};
const text = { type: "string" };
const nullableText = { type: ["string", "null"] };
const count = { type: "integer", minimum: 0 };
const position = { type: "string", description: "A position in the event log" };
const instant = { type: "string", format: "date-time" };
const nullableInstant = { type: ["string", "null"], format: "date-time" };

function object(properties: Record<string, unknown>): Record<string, unknown> {
  return { type: "object", required: Object.keys(properties), properties };
}

function json(description: string, schema: Record<string, unknown>) {
  return { description, content: { "application/json": { schema } } };
}

/** Path and query parameters from the zod schema the route validates them with. */
function parameters(schema: z.ZodType, where: "path" | "query") {
  const jsonSchema = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(jsonSchema.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || (jsonSchema.required ?? []).includes(name),
    schema: property,
  }));
}

function requestBody(schema: z.ZodType, required: boolean) {
  return {
    required,
    content: {
      "application/json": { schema: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) },
    },
  };
}

const IDEMPOTENCY_KEY = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  schema: { type: "string", minLength: 8, maxLength: 128 },
  description:
    "As on the command API: a retry with the same key and request gets the first answer (Idempotent-Replayed: true); " +
    "the same key with another request 422 idempotency_key_reused; while the first runs 409 idempotency_key_in_use",
};

function operation(
  scope: Scope,
  summary: string,
  responses: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return {
    summary,
    tags: ["operations"],
    security: [{ apiKey: [scope] }],
    ...extra,
    responses: { ...responses, ...(scope === "admin" ? ADMIN_PROBLEMS : READ_PROBLEMS) },
  };
}

const BACKTEST = object({
  backtestId: text,
  status: { enum: ["running", "done", "failed"] },
  requestedBy: text,
  from: instant,
  to: instant,
  comment: text,
  balancesReplayed: count,
  startedAt: instant,
  finishedAt: nullableInstant,
  error: nullableText,
  candidate: { type: "object", description: "The candidate rule set, validated" },
}) as { type: string; required: string[]; properties: Record<string, unknown> };

const BUILD = object({
  build: text,
  version: count,
  checkpoint: position,
  status: { enum: ["building", "live", "failed"] },
  error: nullableText,
});

const READ_MODELS = object({
  eventLogHead: {
    type: ["string", "null"],
    description: "The last event's position; null for an empty log or on EventStoreDB",
  },
  readModels: {
    type: "array",
    items: object({
      name: text,
      version: { ...count, description: "The version this code builds" },
      status: { enum: ["not-built", "building", "live", "rebuilding", "failed"] },
      liveBuild: {
        oneOf: [
          { type: "null" },
          object({
            build: text,
            version: count,
            checkpoint: position,
            lagEvents: { type: ["integer", "null"], description: "null on EventStoreDB" },
            lagSeconds: { type: ["number", "null"] },
          }),
        ],
      },
      builds: { type: "array", items: BUILD },
      lastError: { oneOf: [{ type: "null" }, object({ message: text, at: instant })] },
    }),
  },
});

const REBUILD = object({
  rebuildId: text,
  name: text,
  status: { enum: ["running", "done", "failed"] },
  processed: { ...count, description: "Events read from the log so far" },
  total: {
    type: ["integer", "null"],
    description: "Events in the log when it started; null on EventStoreDB",
  },
  percent: { type: ["number", "null"] },
  step: nullableText,
  startedAt: instant,
  finishedAt: nullableInstant,
  error: nullableText,
});

const DEAD_LETTERS = object({
  items: {
    type: "array",
    items: object({
      consumer: text,
      eventId: text,
      eventType: text,
      streamId: nullableText,
      position: nullableText,
      error: text,
      failedAt: nullableInstant,
      attempts: count,
      requeuedAt: { ...nullableInstant, description: "Requeued, not handled yet (in-process fan-out only)" },
    }),
  },
});

const PROVIDERS = object({
  since: instant,
  providers: {
    type: "array",
    items: object({
      provider: text,
      submissions: count,
      accepted: count,
      failed: count,
      failovers: {
        ...count,
        description: "Failed attempts on this provider whose next attempt went to another",
      },
      delivered: count,
      undelivered: count,
      lastFailure: { oneOf: [{ type: "null" }, object({ errorCode: text, at: instant })] },
    }),
  },
});

/** The operations routes' paths in the query API's OpenAPI document. */
export function operationsOpenApiPaths(): Record<string, Record<string, unknown>> {
  return {
    "/operations/read-models": {
      get: operation(
        "queries:read",
        "Read models: state, live build, lag, builds, last error; the log's head",
        {
          "200": json("Now", READ_MODELS),
        },
      ),
    },
    "/operations/read-models/{name}/rebuild": {
      post: operation(
        "admin",
        "Rebuild a read model blue/green in the background (the live one answers throughout); 409 while one runs",
        {
          "202": json("Started; follow statusUrl", object({ rebuildId: text, name: text, statusUrl: text })),
        },
        {
          parameters: [...parameters(readModelRequests.rebuildParams, "path"), IDEMPOTENCY_KEY],
          requestBody: requestBody(readModelRequests.rebuildBody, false),
        },
      ),
    },
    "/operations/rebuilds/{rebuildId}": {
      get: operation(
        "queries:read",
        "How a rebuild stands: events read of the log's total, while it runs",
        { "200": json("Now", REBUILD), "404": PROBLEM },
        { parameters: parameters(readModelRequests.rebuildStatusParams, "path") },
      ),
    },
    "/operations/dead-letters": {
      get: operation(
        "queries:read",
        "Dead letters of the fan-out's consumers, in log order per consumer",
        { "200": json("Now", DEAD_LETTERS) },
        { parameters: parameters(deadLetterRequests.listQuery, "query") },
      ),
    },
    "/operations/dead-letters/{consumer}/requeue": {
      post: operation(
        "admin",
        "Hand dead letters back to their consumer: some by event id, or all",
        { "200": json("How many were handed back", object({ requeued: count })) },
        {
          parameters: [...parameters(deadLetterRequests.requeueParams, "path"), IDEMPOTENCY_KEY],
          requestBody: requestBody(deadLetterRequests.requeueBody, true),
        },
      ),
    },
    "/operations/providers": {
      get: operation(
        "queries:read",
        "Each SMS provider's attempts, failures, failovers and outcomes over the last hours",
        { "200": json("Now", PROVIDERS) },
        { parameters: parameters(providerRequests.query, "query") },
      ),
    },
    "/operations/rules": {
      get: operation("queries:read", "The rules in force in this process, and their rule set version", {
        "200": json(
          "The rules",
          object({ rulesetVersion: count, rules: { type: "array", items: { type: "object" } } }),
        ),
      }),
    },
    ...backtestPaths(),
  };
}

/** The backtest routes (`backtestRoutes.ts`). */
function backtestPaths(): Record<string, unknown> {
  return {
    "/rules/backtests": {
      post: {
        ...operation("admin", "Backtest a candidate rule set over the recorded history (in the background)", {
          "202": json("Started; follow it at Location", BACKTEST),
        }),
        security: [{ apiKey: ["rules:write"] }],
        parameters: [IDEMPOTENCY_KEY],
        requestBody: requestBody(backtestRequests.startBody, true),
      },
      get: operation("queries:read", "The latest 50 backtests, newest first", {
        "200": json("The backtests", object({ backtests: { type: "array", items: BACKTEST } })),
      }),
    },
    "/rules/backtests/{backtestId}": {
      get: operation(
        "queries:read",
        "A backtest: its progress, then its report (per day and rule, the candidate's funnel beside what happened; accounts that would gain or lose an alert)",
        {
          "200": {
            description: "The backtest; `?format=csv`: the report's rows as CSV",
            content: {
              "application/json": {
                schema: {
                  ...BACKTEST,
                  properties: { ...BACKTEST.properties, report: { type: ["object", "null"] } },
                },
              },
              "text/csv": { schema: { type: "string" } },
            },
          },
          "404": PROBLEM,
        },
        {
          parameters: [
            ...parameters(backtestRequests.backtestParams, "path"),
            ...parameters(backtestRequests.backtestQuery, "query"),
          ],
        },
      ),
    },
  };
}
