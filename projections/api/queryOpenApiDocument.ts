import { z } from "zod";
import { EDGE_RULES } from "../../http/problemMiddleware.ts";
import type { QueryRoute } from "./QueryRoute.ts";

const PROBLEM = { $ref: "#/components/responses/Problem" };

/** The security scheme and the problem answer every path refers to. */
const COMPONENTS = {
  securitySchemes: {
    apiKey: { type: "http", scheme: "bearer", description: "Authorization: Bearer <API key>" },
  },
  responses: {
    Problem: {
      description:
        "RFC 9457 problem details; `code`: 400 invalid_request, 401 unauthenticated | invalid_api_key, 403 forbidden, " +
        "404 not_found, 431 request_header_fields_too_large, 503 unavailable (the read models did not reach the " +
        "position in time, or their database does not answer; retry after Retry-After). The operations POSTs also: " +
        "409 refused (reason rebuild_running: a rebuild of that read model runs; its rebuildId and statusUrl when known) " +
        "or idempotency_key_in_use, 413 payload_too_large, 415 unsupported_media_type, 422 idempotency_key_reused",
      content: { "application/problem+json": { schema: { type: "object" } } },
    },
  },
};

/**
 * The query API's OpenAPI 3.1 document, generated from the routes' own zod schemas (the ones
 * requests are validated with), so it cannot drift from what the API accepts; `extraPaths` (the
 * operations routes) are added as they are.
 */
export function queryOpenApiDocument(
  routes: readonly QueryRoute[],
  extraPaths: Record<string, unknown> = {},
): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const pathNames = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1] ?? "");
    const schema = z.toJSONSchema(route.params, { io: "input", unrepresentable: "any" }) as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    const parameters = Object.entries(schema.properties ?? {}).map(([name, property]) => ({
      name,
      in: pathNames.includes(name) ? "path" : "query",
      required: pathNames.includes(name) || (schema.required ?? []).includes(name),
      schema: property,
    }));
    paths[path] = {
      get: {
        summary: route.summary,
        security: [{ apiKey: ["queries:read"] }],
        parameters: [
          ...parameters,
          ...(route.offersCsv === true
            ? [{ name: "format", in: "query", required: false, schema: { enum: ["json", "csv"] } }]
            : []),
          {
            name: "X-Min-Position",
            in: "header",
            required: false,
            schema: { type: "string" },
            description: "A position from the command API: answer only once the read models have passed it",
          },
          {
            name: "minPosition",
            in: "query",
            required: false,
            schema: { type: "string" },
            description: "Same as X-Min-Position",
          },
        ],
        responses: {
          "200": {
            description: `Reflects the log at least up to the X-Position header; phone numbers masked without pii:read`,
            headers: {
              "X-Position": { schema: { type: "string" } },
              ETag: { schema: { type: "string" } },
            },
          },
          "304": { description: "If-None-Match matched the current ETag" },
          "400": PROBLEM,
          "401": PROBLEM,
          "403": PROBLEM,
          "404": PROBLEM,
          "431": PROBLEM,
          "503": PROBLEM,
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Tidemark query API", version: "0.1.0", description: EDGE_RULES },
    paths: { ...paths, ...extraPaths },
    components: COMPONENTS,
  };
}

/** Path items from several sources in one: two with the same path keep every method of both. */
export function mergedPaths(
  ...sources: readonly Record<string, Record<string, unknown>>[]
): Record<string, Record<string, unknown>> {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const source of sources) {
    for (const [path, item] of Object.entries(source)) merged[path] = { ...merged[path], ...item };
  }
  return merged;
}
