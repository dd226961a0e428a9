import Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { RulesetHistory, RulesetVersion } from "../../domain/ruleset/RuleBook.ts";
import { diffRulesets } from "../../domain/ruleset/diffRulesets.ts";
import type { ApiKeys } from "../../http/ApiKeys.ts";
import { parseRequest } from "../../http/parseRequest.ts";
import { ProblemError } from "../../http/ProblemError.ts";

const version = z.coerce
  .number({ message: "must be a rule set version (1, 2, …)" })
  .int({ message: "must be a rule set version (1, 2, …)" })
  .min(1, { message: "must be a rule set version (1, 2, …)" })
  .max(1_000_000_000, { message: "must be a rule set version (1, 2, …)" });

/** The request parts of the rule set routes, shared with the OpenAPI document. */
export const rulesetRequests = {
  versionParams: z.strictObject({ version }),
  diffQuery: z.strictObject({ from: version.optional(), to: version.optional() }),
} as const;

/**
 * The rule set's history for the console and compliance (scope `queries:read`), as this process
 * follows it: `GET /rules/versions` (newest first: who published each, when and why, and its
 * rules), `GET /rules/versions/{version}` (the whole document), `GET /rules/diff?from=&to=` (by
 * default the version in force against the one before it).
 */
export function rulesetRoutes(rules: RulesetHistory, apiKeys: ApiKeys): Router {
  const router = new Router();
  const read = apiKeys.require("queries:read");

  router.get("/rules/versions", read, (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    ctx.set("Cache-Control", "private, no-cache");
    ctx.body = {
      versions: rules
        .versions()
        .toReversed()
        .map((published) => ({
          ...summary(published),
          rules: published.document.rules.map((rule) => ({
            id: rule.id,
            version: rule.version,
            kind: rule.kind,
          })),
        })),
    };
  });

  router.get("/rules/versions/:version", read, (ctx: Context) => {
    const params = parseRequest("params", rulesetRequests.versionParams, ctx.params);
    const published = versionOf(rules, params.version);
    ctx.set("ETag", `"${published.version}"`);
    ctx.set("Cache-Control", "private, no-cache");
    ctx.body = { ...summary(published), document: published.document };
  });

  router.get("/rules/diff", read, (ctx: Context) => {
    const query = parseRequest("query", rulesetRequests.diffQuery, ctx.query);
    const to = versionOf(rules, query.to ?? rules.versions().at(-1)?.version ?? 1);
    const fromVersion = query.from ?? to.version - 1;
    if (fromVersion < 1) {
      throw new ProblemError(
        "not_found",
        `version ${to.version} is the first: there is nothing before it to compare`,
      );
    }
    const from = versionOf(rules, fromVersion);
    ctx.set("Cache-Control", "private, no-cache");
    ctx.body = { from: summary(from), to: summary(to), ...diffRulesets(from.document, to.document) };
  });
  return router;
}

function versionOf(rules: RulesetHistory, wanted: number): RulesetVersion {
  const found = rules.versions().find((published) => published.version === wanted);
  if (found === undefined) {
    const latest = rules.versions().at(-1)?.version;
    throw new ProblemError(
      "not_found",
      latest === undefined
        ? "no rule set has been published"
        : `no rule set version ${wanted} (the latest is ${latest})`,
    );
  }
  return found;
}

function summary(published: RulesetVersion) {
  return {
    version: published.version,
    publishedAt: published.publishedAt,
    publishedBy: published.publishedBy,
    comment: published.comment,
  };
}

/** The rule set routes in the query API's OpenAPI document. */
export function rulesetOpenApiPaths(): Record<string, Record<string, unknown>> {
  const problem = { $ref: "#/components/responses/Problem" };
  const problems = { "400": problem, "401": problem, "403": problem, "404": problem, "431": problem };
  const versionSummary = {
    version: { type: "integer", minimum: 1 },
    publishedAt: { type: "string", format: "date-time" },
    publishedBy: { type: "string", description: "The publishing API key's name, or file:<path>" },
    comment: { type: "string" },
  };
  const object = (properties: Record<string, unknown>) => ({
    type: "object",
    required: Object.keys(properties),
    properties,
  });
  const json = (description: string, schema: Record<string, unknown>) => ({
    description,
    content: { "application/json": { schema } },
  });
  const parameters = (schema: z.ZodType, where: "path" | "query") =>
    Object.entries(
      (
        z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
          properties?: Record<string, unknown>;
        }
      ).properties ?? {},
    ).map(([name, property]) => ({ name, in: where, required: where === "path", schema: property }));
  const security = [{ apiKey: ["queries:read"] }];
  return {
    "/rules/versions": {
      get: {
        summary: "Every version of the rule set, newest first",
        security,
        responses: {
          "200": json(
            "The versions",
            object({
              versions: { type: "array", items: object({ ...versionSummary, rules: { type: "array" } }) },
            }),
          ),
          ...problems,
        },
      },
    },
    "/rules/versions/{version}": {
      get: {
        summary: "One version of the rule set, its whole document",
        security,
        parameters: parameters(rulesetRequests.versionParams, "path"),
        responses: {
          "200": json("The version", object({ ...versionSummary, document: { type: "object" } })),
          ...problems,
        },
      },
    },
    "/rules/diff": {
      get: {
        summary: "What changed between two versions (default: the one in force against the one before)",
        security,
        parameters: parameters(rulesetRequests.diffQuery, "query"),
        responses: {
          "200": json(
            "Rules added, removed, changed (each field by its path, from and to) and unchanged",
            object({
              from: object(versionSummary),
              to: object(versionSummary),
              added: { type: "array" },
              removed: { type: "array" },
              changed: { type: "array" },
              unchanged: { type: "array", items: { type: "string" } },
            }),
          ),
          ...problems,
        },
      },
    },
  };
}
