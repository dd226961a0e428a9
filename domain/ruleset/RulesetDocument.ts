import type { CreditLineChoice, QuietHours } from "../rules/Rule.ts";
import type { MessageClass } from "../values/MessageClass.ts";

interface RuleDefinitionCommon {
  readonly id: string;
  /** The rule's own version: a published (id, version) always means the same rule. */
  readonly version: number;
  readonly messageClass: MessageClass;
  readonly templateId: string;
  readonly cooldownHours: number;
  readonly quietHours: QuietHours | null;
  readonly creditLines: CreditLineChoice;
}

/**
 * One rule as a product team writes it: its thresholds per currency as decimal strings. A
 * validated definition has every default filled in, so two that mean the same are equal.
 */
export type RuleDefinition =
  | (RuleDefinitionCommon & {
      readonly kind: "below";
      readonly thresholds: Readonly<Record<string, { readonly below: string; readonly rearmAbove: string }>>;
    })
  | (RuleDefinitionCommon & {
      readonly kind: "sustained-at-or-above";
      readonly days: number;
      readonly thresholds: Readonly<Record<string, { readonly atOrAbove: string }>>;
    });

/** A whole rule set as published: the rules file's shape, validated, defaults filled in. */
export interface RulesetDocument {
  readonly version: 1;
  readonly rules: readonly RuleDefinition[];
}

/**
 * A JSON value's text with object keys sorted: two values that mean the same have the same text.
 * Pure; for the small documents of rule sets.
 */
export function canonicalText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalText(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
