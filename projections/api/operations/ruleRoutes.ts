import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { unreachable } from "../../../domain/Decider.ts";
import type { Rule } from "../../../domain/rules/Rule.ts";
import { formatMoney, type Money } from "../../../domain/values/Money.ts";
import { parseRequest } from "../../../http/parseRequest.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";

/**
 * `GET /operations/rules`: the rules in force in this process, with the rule set version they
 * come from (one per rule and currency, amounts as decimal strings the way the other read answers
 * write money).
 */
export function ruleRoutes(
  router: Router,
  dependencies: OperationsDependencies,
  guards: OperationsGuards,
): void {
  router.get("/operations/rules", guards.read, (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    const book = dependencies.rules.current();
    ctx.body = { rulesetVersion: book.version, rules: book.inForce.map(ruleView) };
  });
}

/** A rule as JSON: money as `{ amount, currency }` (JSON has no bigint). */
export function ruleView(rule: Rule) {
  const common = {
    id: rule.id,
    version: rule.version,
    kind: rule.kind,
    messageClass: rule.messageClass,
    templateId: rule.templateId,
    currency: rule.threshold.currency,
    threshold: moneyView(rule.threshold),
    creditLines: rule.creditLines,
    cooldownHours: rule.cooldownHours,
    quietHours: rule.quietHours,
    inForceSince: (rule.inForceSinceMs ?? 0) > 0 ? new Date(rule.inForceSinceMs ?? 0).toISOString() : null,
  };
  switch (rule.kind) {
    case "below":
      return { ...common, rearmAbove: moneyView(rule.rearmAbove) };
    case "sustained-at-or-above":
      return { ...common, days: rule.days };
    default:
      return unreachable(rule);
  }
}

function moneyView(money: Money): { readonly amount: string; readonly currency: string } {
  return { amount: formatMoney(money), currency: money.currency };
}
