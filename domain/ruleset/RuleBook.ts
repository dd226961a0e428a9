import type { Rule } from "../rules/Rule.ts";
import type { Currency } from "../values/Money.ts";
import type { RulesetEvent } from "./RulesetEvent.ts";

/** One published version of the rule set, its rules expanded per currency. */
export interface PublishedRules {
  readonly version: number;
  readonly publishedAtMs: number;
  readonly rules: readonly Rule[];
}

/**
 * The rules in force and every rule ever published: what each decision reads. `inForce` carries
 * each rule's `inForceSinceMs`, the publication of the rule set version that brought that
 * version of the rule (0 for the first rule set's rules: they always held).
 */
export interface RuleBook {
  /** The rule set version in force; 0: none published. */
  readonly version: number;
  readonly inForce: readonly Rule[];
  /** Every (rule, version, currency) ever published, the latest publication of each. */
  readonly published: readonly Rule[];
}

/** Where a process finds the rule book in force now: it changes when a new version is published. */
export interface RulesInForce {
  current(): RuleBook;
}

/** One version of the rule set as published. */
export type RulesetVersion = RulesetEvent["data"];

/** The rules in force and the versions of the rule set they came from, oldest first. */
export interface RulesetHistory extends RulesInForce {
  versions(): readonly RulesetVersion[];
}

/** The rule book of a history of rule set versions, oldest first. Pure. */
export function ruleBookOf(history: readonly PublishedRules[]): RuleBook {
  let inForce: readonly Rule[] = [];
  const published = new Map<string, Rule>();
  history.forEach((ruleset, index) => {
    const before = new Map(inForce.map((rule) => [sameRuleKey(rule), rule]));
    inForce = ruleset.rules.map((rule) => ({
      ...rule,
      inForceSinceMs:
        index === 0 ? 0 : (before.get(sameRuleKey(rule))?.inForceSinceMs ?? ruleset.publishedAtMs),
    }));
    for (const rule of inForce) published.set(sameRuleKey(rule), rule);
  });
  return { version: history.at(-1)?.version ?? 0, inForce, published: [...published.values()] };
}

/** A rule book of one rule set that always held: a rules file read as it stands. */
export function ruleBookFromRules(rules: readonly Rule[]): RuleBook {
  return ruleBookOf([{ version: 1, publishedAtMs: 0, rules }]);
}

/**
 * The rule a qualification was made under: its exact version when it was ever published, else
 * (a log older than the rule set's stream) the rule in force now with the same id.
 */
export function ruleUnder(
  book: RuleBook,
  ruleId: string,
  version: number,
  currency: Currency,
): Rule | undefined {
  const sameRule = (rule: Rule) => rule.id === ruleId && rule.threshold.currency === currency;
  return (
    book.published.find((rule) => sameRule(rule) && rule.version === version) ?? book.inForce.find(sameRule)
  );
}

/** A rule's identity across rule set versions: id, its own version, and currency. */
function sameRuleKey(rule: Rule): string {
  return `${rule.id}@${rule.version}/${rule.threshold.currency}`;
}

/**
 * Rules that never change: a rule book of one version that always held (tests, a file read as it
 * stands), with no published history.
 */
export function fixedRules(rules: readonly Rule[]): RulesetHistory {
  const book = ruleBookFromRules(rules);
  return { current: () => book, versions: () => [] };
}

/**
 * What `build` makes of the rules in force, made again only when a new rule book comes into
 * force (deciders, and whatever was folded with them, such as a state cache).
 */
export function perRuleBook<T>(
  rules: RulesInForce,
  build: (inForce: readonly Rule[], book: RuleBook) => T,
): () => T {
  let basis: RuleBook | undefined;
  let built: T | undefined;
  return () => {
    const book = rules.current();
    if (book !== basis || built === undefined) {
      built = build(book.inForce, book);
      basis = book;
    }
    return built;
  };
}
