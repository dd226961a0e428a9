import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { z } from "zod";
import type { Templates } from "../../domain/notification/Templates.ts";
import type { RulesetHistory, RulesetVersion } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import type { ApiCaller, ApiKeys } from "../../http/ApiKeys.ts";
import { parseRequest } from "../../http/parseRequest.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import {
  parseRulesetDocument,
  RulesFileError,
  unknownTemplateProblems,
  type ValidatedRuleset,
} from "../rules/loadRules.ts";
import { publishRuleset } from "../rules/publishRuleset.ts";
import { ifMatchRevision, requestMetadata } from "./commandAnswers.ts";

/** The rules in force in this process, and a way to take up a version it has just published. */
export interface PublishingRules extends RulesetHistory {
  refresh(): Promise<void>;
}

export interface RuleRoutesDependencies {
  readonly store: EventStore;
  readonly rules: PublishingRules;
  readonly templates: Templates;
  readonly apiKeys: ApiKeys;
  readonly clock: () => number;
  readonly idempotent: Middleware;
  readonly limited: Middleware;
  /** Where the app does not parse JSON bodies itself (the query API, for the console): how to. */
  readonly parseBody?: readonly Middleware[];
}

const publishBody = z
  .object({
    document: z.unknown().refine((value) => value !== undefined, { message: "is required" }),
    comment: z.string().trim().min(1, { message: "must say why (a few words)" }).max(1000),
  })
  .strict();

/** The request bodies, shared with the OpenAPI document. */
export const ruleBodies = { publishRuleset: publishBody } as const;

/**
 * The rule set (scope `rules:write`): `GET /rules` is the version in force with its ETag;
 * `POST /rules/versions` publishes a new one, `If-Match` naming the version it was written
 * against (required: 428 without it, 412 when another was published since). The document is
 * validated exactly as the rules file is, each problem naming the rule and the field, and each
 * rule's template must exist. The same document as the one in force is no new version (200).
 */
export function ruleRoutes(dependencies: RuleRoutesDependencies): Router {
  const { store, rules, apiKeys, idempotent, limited } = dependencies;
  const router = new Router();
  const write = apiKeys.require("rules:write");

  router.get("/rules", write, (ctx: Context) => {
    const current = rules.versions().at(-1);
    if (current === undefined) throw new ProblemError("not_found", "no rule set has been published");
    ctx.set("ETag", `"${current.version}"`);
    ctx.body = versionView(current);
  });

  router.post(
    "/rules/versions",
    write,
    ...(dependencies.parseBody ?? []),
    limited,
    idempotent,
    async (ctx: Context) => {
      const expectedVersion = ifMatchRevision(ctx.get("if-match"));
      if (expectedVersion === undefined) {
        throw new ProblemError(
          "precondition_required",
          'If-Match must name the version this rule set was written against, e.g. If-Match: "3"',
        );
      }
      const body = parseRequest("body", publishBody, ctx.request.body);
      const ruleset = validatedRuleset(body.document, dependencies.templates);
      const caller = ctx.state.caller as ApiCaller;
      const outcome = await publishRuleset(store, ruleset, {
        publishedBy: caller.name,
        comment: body.comment,
        now: epochMsToInstant(dependencies.clock()),
        expectedVersion,
        newEventId,
        metadata: requestMetadata(ctx),
      });
      switch (outcome.outcome) {
        case "accepted": {
          await rules.refresh();
          const published = outcome.events[0]?.data;
          const current = published ?? rules.versions().at(-1);
          if (current === undefined) throw new Error("a rule set was accepted but none is in force");
          ctx.status = published === undefined ? 200 : 201;
          ctx.set("ETag", `"${current.version}"`);
          if (published !== undefined) ctx.set("Location", `/rules/versions/${published.version}`);
          ctx.body = {
            ...versionView(current),
            changed: published !== undefined,
            position: outcome.position ?? null,
          };
          return;
        }
        case "revision_mismatch":
          throw new ProblemError(
            "revision_mismatch",
            `the rule set is at version ${outcome.actual + 1}, not ${outcome.expected + 1}: read it again and publish on top of it`,
            { expectedVersion: outcome.expected + 1, currentVersion: outcome.actual + 1 },
          );
        case "refused":
          throw new ProblemError("unprocessable", outcome.detail, { reason: outcome.code });
      }
    },
  );
  return router;
}

/**
 * A rule set from a request body, validated as the rules file is, each rule's template known.
 * @throws ProblemError 422 (reason rules_invalid), every problem naming the rule and the field.
 */
export function validatedRuleset(document: unknown, templates: Templates): ValidatedRuleset {
  let ruleset: ValidatedRuleset;
  try {
    ruleset = parseRulesetDocument("the rule set", document);
  } catch (error) {
    if (!(error instanceof RulesFileError)) throw error;
    throw new ProblemError("unprocessable", "the rule set is not valid", {
      reason: "rules_invalid",
      errors: error.problems.map((problem) => ({ field: "body.document", problem })),
    });
  }
  const unknownTemplates = unknownTemplateProblems(ruleset, templates);
  if (unknownTemplates.length > 0) {
    throw new ProblemError("unprocessable", "the rule set is not valid", {
      reason: "rules_invalid",
      errors: unknownTemplates.map((problem) => ({ field: "body.document", problem })),
    });
  }
  return ruleset;
}

/** A version as the APIs answer it. */
export function versionView(version: RulesetVersion) {
  return {
    version: version.version,
    publishedAt: version.publishedAt,
    publishedBy: version.publishedBy,
    comment: version.comment,
    document: version.document,
  };
}
