import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Templates } from "../../domain/notification/Templates.ts";
import type { QuietHours, Rule } from "../../domain/rules/Rule.ts";
import type { RuleDefinition, RulesetDocument } from "../../domain/ruleset/RulesetDocument.ts";
import { MESSAGE_CLASSES } from "../../domain/values/MessageClass.ts";
import {
  CURRENCY_MINOR_DIGITS,
  isCurrency,
  parseMoney,
  type Currency,
  type Money,
} from "../../domain/values/Money.ts";

/** The rules file shipped as the default: the three example rules for GBP, EUR and USD. */
export const DEFAULT_RULES_FILE = new URL("./defaultRules.yaml", import.meta.url);

/** A rules file that cannot be used: every problem, each naming the rule and the field. */
export class RulesFileError extends Error {
  readonly code = "rules_invalid";

  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`rules file ${file}: ${problems.join("; ")}`);
    this.name = "RulesFileError";
  }
}

const DEFAULT_MARKETING_QUIET_HOURS: QuietHours = { start: "21:00", end: "08:00" };
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a time like "21:00"' });
const amount = z
  .string()
  .regex(/^-?\d{1,15}(\.\d+)?$/, { message: 'must be a decimal string like "100.00"' });

const common = {
  id: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, { message: "must be lower-case letters, digits and dashes" }),
  version: z.number().int().positive(),
  messageClass: z.enum(MESSAGE_CLASSES as [string, ...string[]]),
  templateId: z.string().min(1),
  cooldownHours: z.number().nonnegative().default(24),
  quietHours: z.union([z.object({ start: clock, end: clock }).strict(), z.null()]).optional(),
  // Explicit per rule; absent means the customer's own money, the safer reading of "your balance".
  creditLines: z
    .enum(["excluded", "included"], { message: 'must be "excluded" or "included"' })
    .default("excluded"),
};

const ruleSchema = z.discriminatedUnion("kind", [
  z
    .object({
      ...common,
      kind: z.literal("below"),
      thresholds: z.record(z.string(), z.object({ below: amount, rearmAbove: amount }).strict()),
    })
    .strict(),
  z
    .object({
      ...common,
      kind: z.literal("sustained-at-or-above"),
      days: z.number().int().positive(),
      thresholds: z.record(z.string(), z.object({ atOrAbove: amount }).strict()),
    })
    .strict(),
]);

const fileSchema = z.object({ version: z.literal(1), rules: z.array(z.unknown()).min(1) }).strict();

/**
 * Reads and validates a rules file (YAML or JSON), expanding each rule into one domain rule per
 * currency it has a threshold for.
 * @throws RulesFileError listing every problem.
 */
export async function loadRules(file: URL | string = DEFAULT_RULES_FILE): Promise<Rule[]> {
  return (await readRulesetFile(file)).rules;
}

/** The parsed YAML/JSON of a rules file. @throws RulesFileError when it cannot be read or parsed. */
async function readRulesText(file: URL | string, name: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new RulesFileError(name, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  try {
    return parseYaml(text) as unknown;
  } catch (error) {
    throw new RulesFileError(name, [
      `is not valid YAML/JSON: ${(error as Error).message.split("\n")[0] ?? ""}`,
    ]);
  }
}

/** Validates an already parsed rules document; see `loadRules`. */
export function rulesFromDocument(name: string, document: unknown): Rule[] {
  return parseRulesetDocument(name, document).rules;
}

/** A rule set validated: the document as it will be published (defaults filled in) and its rules. */
export interface ValidatedRuleset {
  readonly document: RulesetDocument;
  readonly rules: Rule[];
}

/**
 * Reads and validates a rules file (YAML or JSON) into the document a rule set version carries.
 * @throws RulesFileError listing every problem.
 */
export async function readRulesetFile(file: URL | string = DEFAULT_RULES_FILE): Promise<ValidatedRuleset> {
  const name = file instanceof URL ? file.pathname : file;
  return parseRulesetDocument(name, await readRulesText(file, name));
}

/**
 * Validates a parsed rules document, as the rules file is validated, into the document a rule set
 * version carries (every default filled in, so equal meanings compare equal) and its rules, one
 * per rule and currency.
 * @throws RulesFileError listing every problem, each naming the rule and the field.
 */
export function parseRulesetDocument(name: string, document: unknown): ValidatedRuleset {
  const file = fileSchema.safeParse(document);
  if (!file.success)
    throw new RulesFileError(
      name,
      file.error.issues.map((issue) => describeIssue("file", issue)),
    );
  const problems: string[] = [];
  const rules: Rule[] = [];
  const definitions: RuleDefinition[] = [];
  const seen = new Set<string>();
  file.data.rules.forEach((raw, index) => {
    const label = ruleLabel(raw, index);
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => describeIssue(label, issue)));
      return;
    }
    const rule = parsed.data;
    if (seen.has(rule.id)) problems.push(`${label}: id is used twice`);
    seen.add(rule.id);
    rules.push(...expandRule(label, rule, problems));
    definitions.push(definitionOf(rule));
  });
  if (problems.length > 0) throw new RulesFileError(name, problems);
  return { document: { version: 1, rules: definitions }, rules };
}

/** A validated entry as the rule set document keeps it: every field present, in one order. */
function definitionOf(rule: RuleEntry): RuleDefinition {
  const common = {
    id: rule.id,
    version: rule.version,
    messageClass: rule.messageClass as RuleDefinition["messageClass"],
    templateId: rule.templateId,
    cooldownHours: rule.cooldownHours,
    quietHours: quietHoursOf(rule),
    creditLines: rule.creditLines,
  };
  return rule.kind === "below"
    ? { ...common, kind: "below", thresholds: rule.thresholds }
    : { ...common, kind: "sustained-at-or-above", days: rule.days, thresholds: rule.thresholds };
}

type RuleEntry = z.infer<typeof ruleSchema>;

/** How problems name a rule: by its id when it has one, else by its place in the file. */
function ruleLabel(raw: unknown, index: number): string {
  return typeof (raw as { id?: unknown } | null)?.id === "string"
    ? `rule ${(raw as { id: string }).id}`
    : `rule #${index + 1}`;
}

/**
 * One domain rule per currency a validated entry has a threshold for. What is wrong with a
 * threshold (unknown currency, bad amount, rearm below the threshold) is added to `problems`.
 */
function expandRule(label: string, rule: RuleEntry, problems: string[]): Rule[] {
  const rules: Rule[] = [];
  const base = {
    id: rule.id,
    version: rule.version,
    messageClass: rule.messageClass as Rule["messageClass"],
    templateId: rule.templateId,
    cooldownHours: rule.cooldownHours,
    quietHours: quietHoursOf(rule),
    creditLines: rule.creditLines,
  };
  const money = (where: string, currency: Currency, decimal: string): Money | undefined => {
    const parsedMoney = parseMoney(decimal, currency);
    if ("error" in parsedMoney) {
      problems.push(`${where}: ${parsedMoney.error}`);
      return undefined;
    }
    return parsedMoney;
  };
  const currencyOf = (code: string): Currency | undefined => {
    if (isCurrency(code)) return code;
    problems.push(
      `${label}: thresholds.${code}: unknown currency (known: ${Object.keys(CURRENCY_MINOR_DIGITS).join(", ")})`,
    );
    return undefined;
  };
  if (rule.kind === "below") {
    for (const [code, threshold] of Object.entries(rule.thresholds)) {
      const currency = currencyOf(code);
      if (currency === undefined) continue;
      const below = money(`${label}: thresholds.${code}.below`, currency, threshold.below);
      const rearmAbove = money(`${label}: thresholds.${code}.rearmAbove`, currency, threshold.rearmAbove);
      if (below === undefined || rearmAbove === undefined) continue;
      if (rearmAbove.minor < below.minor) {
        problems.push(`${label}: thresholds.${code}.rearmAbove: must not be lower than below`);
      }
      rules.push({ ...base, kind: "below", threshold: below, rearmAbove });
    }
  } else {
    for (const [code, threshold] of Object.entries(rule.thresholds)) {
      const currency = currencyOf(code);
      if (currency === undefined) continue;
      const atOrAbove = money(`${label}: thresholds.${code}.atOrAbove`, currency, threshold.atOrAbove);
      if (atOrAbove !== undefined)
        rules.push({ ...base, kind: rule.kind, threshold: atOrAbove, days: rule.days });
    }
  }
  if (Object.keys(rule.thresholds).length === 0)
    problems.push(`${label}: thresholds: needs at least one currency`);
  return rules;
}

/** The rule's own quiet hours (null: none); absent, marketing keeps quiet at night and service never. */
function quietHoursOf(rule: RuleEntry): QuietHours | null {
  if (rule.quietHours !== undefined) return rule.quietHours;
  return rule.messageClass === "marketing" ? DEFAULT_MARKETING_QUIET_HOURS : null;
}

function describeIssue(label: string, issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".");
  return `${label}: ${path === "" ? "" : `${path}: `}${issue.message}`;
}

/** The currencies a rule set covers, for start-up logs. */
export function ruleCurrencies(rules: readonly Rule[]): Currency[] {
  return [...new Set(rules.map((rule) => rule.threshold.currency))];
}

/** A problem for each rule whose template is not among `templates` (a rule set to publish needs them all). */
export function unknownTemplateProblems(ruleset: ValidatedRuleset, templates: Templates): string[] {
  return ruleset.document.rules
    .filter((rule) => !templates.has(rule.templateId))
    .map(
      (rule) =>
        `rule ${rule.id}: templateId: no template ${rule.templateId} (known: ${[...templates.keys()].join(", ")})`,
    );
}
