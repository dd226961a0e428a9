import { canonicalText, type RuleDefinition, type RulesetDocument } from "./RulesetDocument.ts";

/** One field that differs, by its path in the rule (`thresholds.GBP.below`); absent: `null`. */
export interface FieldChange {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** What changed from one rule set to another, rule by rule (by id). */
export interface RulesetDiff {
  readonly added: readonly RuleDefinition[];
  readonly removed: readonly RuleDefinition[];
  readonly changed: readonly { readonly id: string; readonly changes: readonly FieldChange[] }[];
  readonly unchanged: readonly string[];
}

/** The difference between two rule sets, rules in the order `to` lists them (removed ones after). Pure. */
export function diffRulesets(from: RulesetDocument, to: RulesetDocument): RulesetDiff {
  const before = new Map(from.rules.map((rule) => [rule.id, rule]));
  const after = new Set(to.rules.map((rule) => rule.id));
  const added: RuleDefinition[] = [];
  const changed: { id: string; changes: FieldChange[] }[] = [];
  const unchanged: string[] = [];
  for (const rule of to.rules) {
    const earlier = before.get(rule.id);
    if (earlier === undefined) {
      added.push(rule);
      continue;
    }
    const changes = fieldChanges(leaves(earlier), leaves(rule));
    if (changes.length === 0) unchanged.push(rule.id);
    else changed.push({ id: rule.id, changes });
  }
  const removed = from.rules.filter((rule) => !after.has(rule.id));
  return { added, removed, changed, unchanged };
}

function fieldChanges(from: ReadonlyMap<string, unknown>, to: ReadonlyMap<string, unknown>): FieldChange[] {
  const paths = [...new Set([...from.keys(), ...to.keys()])].sort();
  return paths.flatMap((path) => {
    const a = from.get(path) ?? null;
    const b = to.get(path) ?? null;
    return canonicalText(a) === canonicalText(b) ? [] : [{ path, from: a, to: b }];
  });
}

/** Every leaf of a JSON object by its dotted path; arrays and empty objects are leaves. */
function leaves(value: unknown, path = "", into = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      leaves(item, path === "" ? key : `${path}.${key}`, into);
    }
  } else {
    into.set(path, value);
  }
  return into;
}
