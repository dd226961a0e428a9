import { z } from "zod";
import type { Scope } from "../../http/ApiKeys.ts";
import { accountBodies } from "./accountRoutes.ts";
import { notificationBodies } from "./notificationRoutes.ts";
import { ruleBodies } from "./ruleRoutes.ts";
import { EDGE_RULES } from "../../http/problemMiddleware.ts";

interface Operation {
  readonly method: "post" | "put";
  readonly path: string;
  readonly summary: string;
  readonly scope: Scope;
  readonly body: z.ZodType;
  readonly success: 200 | 201 | 202;
  readonly parameters?: readonly string[];
  readonly description?: string;
  /** The answer on success, when it is not `CommandAccepted`. */
  readonly response?: "RulesetVersion";
  /** If-Match must be sent (428 without it). */
  readonly ifMatchRequired?: boolean;
}

const OPERATIONS: readonly Operation[] = [
  {
    method: "post",
    path: "/accounts",
    summary: "Open an account",
    scope: "accounts:write",
    body: accountBodies.openAccount,
    success: 201,
  },
  {
    method: "put",
    path: "/accounts/{id}/contact",
    summary: "Change the contact phone",
    scope: "accounts:write",
    body: accountBodies.changeContact,
    success: 200,
    parameters: ["id"],
  },
  {
    method: "put",
    path: "/accounts/{id}/consents/{class}",
    summary: "Grant or revoke consent for a message class",
    scope: "accounts:write",
    body: accountBodies.changeConsent,
    success: 200,
    parameters: ["id", "class"],
  },
  {
    method: "post",
    path: "/accounts/{id}/balances",
    summary: "Record an observed balance (core-banking push)",
    description:
      "The balance counts only if it can be the customer's balance today; otherwise 422 problem+json (code unprocessable) with a reason: reference_time_out_of_bounds (referenceTime more than BALANCE_MAX_FUTURE_SKEW_SECONDS, default 300, after now or BALANCE_MAX_AGE_HOURS, default 168, before now), currency_mismatch (the balance or a credit line is not in the account's currency), balance_type_not_current (a ForwardAvailable, Expected, Information or PreviouslyClosedBooked balance). An unknown balance type or a zone-less referenceTime is a 400.",
    scope: "balances:write",
    body: accountBodies.recordBalance,
    success: 202,
    parameters: ["id"],
  },
  {
    method: "post",
    path: "/accounts/{id}/balance-refreshes",
    summary: "Request a balance refresh",
    scope: "balances:write",
    body: accountBodies.requestBalanceRefresh,
    success: 202,
    parameters: ["id"],
  },
  {
    method: "post",
    path: "/accounts/{id}/close",
    summary: "Close an account",
    scope: "accounts:write",
    body: accountBodies.closeAccount,
    success: 200,
    parameters: ["id"],
  },
  {
    method: "post",
    path: "/notifications",
    summary: "Request a notification (operator or campaign use)",
    scope: "notifications:write",
    body: notificationBodies.requestNotification,
    success: 201,
  },
  {
    method: "post",
    path: "/notifications/{id}/cancel",
    summary: "Cancel a notification not yet sent to a provider",
    scope: "notifications:write",
    body: notificationBodies.cancelNotification,
    success: 200,
    parameters: ["id"],
  },
  {
    method: "post",
    path: "/rules/versions",
    summary: "Publish a new version of the rule set",
    description:
      'The document is the rules file\'s shape (`{"version": 1, "rules": [...]}`), validated as the file is: 422 problem+json (reason rules_invalid) with one entry in `errors` per problem, each naming the rule and the field, and every rule\'s template must exist. A rule that changed needs a higher `version` than any it had (422, reason rule_version_reused). If-Match names the version the document was written against: 428 without it, 412 when another has been published since. The same document as the one in force is no new version: 200 with `changed: false`. Every process applies a new version within RULES_POLL_MS (the publishing one at once); a rule never looks back past the moment its version took effect, so what already holds for an account does not alert.',
    scope: "rules:write",
    body: ruleBodies.publishRuleset,
    success: 201,
    response: "RulesetVersion",
    ifMatchRequired: true,
  },
];

/** `GET /rules`, the one read of the command API: what a publisher writes against. */
const RULES_IN_FORCE = {
  get: {
    summary: "The rule set in force (its version is the ETag to send as If-Match)",
    security: [{ apiKey: ["rules:write"] }],
    responses: {
      "200": { $ref: "#/components/responses/RulesetVersion" },
      "401": { $ref: "#/components/responses/Problem" },
      "403": { $ref: "#/components/responses/Problem" },
      "404": { $ref: "#/components/responses/Problem" },
    },
  },
};

const PROBLEM = { $ref: "#/components/responses/Problem" };

const PROBLEM_CODES =
  "RFC 9457 problem details; `code`: 400 invalid_request, 401 unauthenticated | invalid_api_key, " +
  "403 forbidden, 404 not_found, 409 refused | idempotency_key_in_use, 412 revision_mismatch, " +
  "428 precondition_required, " +
  "413 payload_too_large, 415 unsupported_media_type (not JSON, or a charset other than UTF-8), " +
  "422 idempotency_key_reused, 429 rate_limited, 431 request_header_fields_too_large, 503 unavailable";

/** The security scheme and the two answers every operation refers to. */
const COMPONENTS = {
  securitySchemes: {
    apiKey: { type: "http", scheme: "bearer", description: "Authorization: Bearer <API key>" },
  },
  responses: {
    CommandAccepted: {
      description: "The command was accepted; events (possibly none) were appended",
      headers: { ETag: { schema: { type: "string" }, description: "The stream revision, quoted" } },
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["streamId", "revision", "position", "events"],
            properties: {
              accountId: { type: "string", description: "account commands" },
              notificationId: { type: "string", description: "notification commands" },
              streamId: { type: "string" },
              revision: { type: "integer" },
              position: {
                type: ["string", "null"],
                description: "Global position of the append, for read-your-writes",
              },
              events: { type: "array", items: { type: "string" } },
            },
          },
        },
      },
    },
    RulesetVersion: {
      description: "A version of the rule set",
      headers: { ETag: { schema: { type: "string" }, description: "The rule set version, quoted" } },
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["version", "publishedAt", "publishedBy", "comment", "document"],
            properties: {
              version: { type: "integer", minimum: 1 },
              publishedAt: { type: "string", format: "date-time" },
              publishedBy: { type: "string", description: "The publishing API key's name, or file:<path>" },
              comment: { type: "string" },
              document: { type: "object", description: "The rule set, every default filled in" },
              changed: {
                type: "boolean",
                description: "On publishing: false when it was the version in force",
              },
              position: { type: ["string", "null"], description: "On publishing: the append's position" },
            },
          },
        },
      },
    },
    Problem: {
      description: PROBLEM_CODES,
      content: {
        "application/problem+json": {
          schema: {
            type: "object",
            required: ["type", "title", "status", "code", "detail"],
            properties: {
              type: { type: "string" },
              title: { type: "string" },
              status: { type: "integer" },
              code: { type: "string" },
              detail: { type: "string" },
              reason: { type: "string", description: "The domain's refusal code" },
              errors: {
                type: "array",
                items: {
                  type: "object",
                  properties: { field: { type: "string" }, problem: { type: "string" } },
                },
              },
            },
          },
        },
      },
    },
  },
};

/**
 * The command API's OpenAPI 3.1 document, generated from the same zod schemas the routes
 * validate with (JSON Schema 2020-12, which OpenAPI 3.1 uses as it is).
 */
export function openApiDocument(
  extraPaths: Record<string, Record<string, unknown>> = {},
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = { ...extraPaths };
  for (const operation of OPERATIONS) {
    const pathItem = (paths[operation.path] ??= {});
    pathItem[operation.method] = operationObject(operation);
  }
  paths["/rules"] = RULES_IN_FORCE;
  return {
    openapi: "3.1.0",
    info: { title: "Tidemark command API", version: "0.1.0", description: EDGE_RULES },
    paths,
    components: COMPONENTS,
  };
}

/**
 * `GET /rules` and `POST /rules/versions` as path items that stand alone (every answer written out
 * where this document refers to its components), for another API that mounts the same routes:
 * the query API, from which the console publishes.
 */
export function rulePublishingOpenApiPaths(): Record<string, Record<string, unknown>> {
  const publish = OPERATIONS.find((operation) => operation.path === "/rules/versions");
  if (publish === undefined) throw new Error("the rule set's publish operation is not described");
  return withResponsesWrittenOut({
    "/rules": RULES_IN_FORCE,
    "/rules/versions": { post: operationObject(publish) },
  }) as Record<string, Record<string, unknown>>;
}

/** `value` with every `{ $ref: "#/components/responses/X" }` replaced by that response. */
function withResponsesWrittenOut(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withResponsesWrittenOut);
  if (typeof value !== "object" || value === null) return value;
  const ref = (value as { $ref?: unknown }).$ref;
  const prefix = "#/components/responses/";
  if (typeof ref === "string" && ref.startsWith(prefix)) {
    const responses: Record<string, unknown> = COMPONENTS.responses;
    const response = responses[ref.slice(prefix.length)];
    if (response === undefined) throw new Error(`no response ${ref} in the command API's document`);
    return withResponsesWrittenOut(response);
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withResponsesWrittenOut(item)]));
}

/** One operation as OpenAPI: its scope, parameters, JSON body schema and answers. */
function operationObject(operation: Operation): Record<string, unknown> {
  const schema = z.toJSONSchema(operation.body, { io: "input" });
  delete (schema as { $schema?: string }).$schema;
  return {
    summary: operation.summary,
    ...(operation.description === undefined ? {} : { description: operation.description }),
    security: [{ apiKey: [operation.scope] }],
    parameters: parametersOf(operation),
    requestBody: {
      required: true,
      description: "UTF-8 JSON: a Content-Type declaring another charset is a 415",
      content: { "application/json": { schema } },
    },
    responses: {
      [String(operation.success)]: {
        $ref: `#/components/responses/${operation.response ?? "CommandAccepted"}`,
      },
      "400": PROBLEM,
      "401": PROBLEM,
      "403": PROBLEM,
      "404": PROBLEM,
      "409": PROBLEM,
      "412": PROBLEM,
      "413": PROBLEM,
      "415": PROBLEM,
      "422": PROBLEM,
      ...(operation.ifMatchRequired === true ? { "428": PROBLEM } : {}),
      "429": PROBLEM,
      "431": PROBLEM,
      "503": PROBLEM,
    },
  };
}

/** The path's parameters, If-Match, and Idempotency-Key on a POST. */
function parametersOf(operation: Operation): Record<string, unknown>[] {
  return [
    ...(operation.parameters ?? []).map((name) => ({
      name,
      in: "path",
      required: true,
      schema: { type: "string" },
    })),
    {
      name: "If-Match",
      in: "header",
      required: operation.ifMatchRequired === true,
      schema: { type: "string" },
      description:
        operation.ifMatchRequired === true
          ? "The version this was written against, quoted; 428 without it, 412 if another is in force"
          : "Expected stream revision; 412 if the stream is elsewhere",
    },
    ...(operation.method === "post"
      ? [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            schema: { type: "string", minLength: 8, maxLength: 128 },
            description:
              "A retry with the same method, path, If-Match and JSON (key order and spacing do not count) gets the first answer; another request under the key is a 422",
          },
        ]
      : []),
  ];
}
