import type { QuietHours, Rule } from "../../domain/rules/Rule.ts";
import { CURRENCY_MINOR_DIGITS, formatMoney, type Currency } from "../../domain/values/Money.ts";

type BelowRule = Extract<Rule, { kind: "below" }>;
type SustainedRule = Extract<Rule, { kind: "sustained-at-or-above" }>;

/**
 * What the demo reads from the rules in force for one currency: the rules its cases cross and
 * the balances that cross them (or stay clear of every one). Amounts are minor units.
 */
export interface DemoLevels {
  readonly currency: Currency;
  /** The `below` rule with the highest threshold (low-balance in the shipped rules). */
  readonly alert: BelowRule;
  /** The `below` rule with the lowest threshold (overdrawn), when it is another rule. */
  readonly deep: BelowRule | undefined;
  /** A `sustained-at-or-above` rule (savings-offer), if any. */
  readonly sustained: SustainedRule | undefined;
  /** The rule whose quiet hours the deferred case runs into, and those hours; undefined: none has any. */
  readonly quiet: { readonly rule: Rule; readonly hours: QuietHours } | undefined;
  /** Below the alert rule, not below the deep one: [low, high]. */
  readonly low: readonly [bigint, bigint];
  /** Below every `below` rule. */
  readonly overdrawn: readonly [bigint, bigint];
  /** Above every re-arm level, below the sustained threshold: a balance no rule notices. */
  readonly healthy: readonly [bigint, bigint];
  /** At or above the sustained threshold. */
  readonly savings: readonly [bigint, bigint] | undefined;
}

/**
 * The levels of `currency` under `rules`.
 * @throws Error when no `below` rule has a threshold in `currency`: the demo's cases need one.
 */
export function demoLevels(rules: readonly Rule[], currency: Currency): DemoLevels {
  const mine = rules.filter((rule) => rule.threshold.currency === currency);
  const below = mine
    .filter((rule): rule is BelowRule => rule.kind === "below")
    .sort((a, b) => (a.threshold.minor < b.threshold.minor ? 1 : -1));
  const alert = below[0];
  const lowest = below.at(-1);
  if (alert === undefined || lowest === undefined) {
    throw new Error(`the rules in force have no "below" rule for ${currency} (such as low-balance)`);
  }
  const unit = 10n ** BigInt(CURRENCY_MINOR_DIGITS[currency]);
  const sustained = mine.find((rule): rule is SustainedRule => rule.kind === "sustained-at-or-above");
  const rearm = below.reduce((top, rule) => (rule.rearmAbove.minor > top ? rule.rearmAbove.minor : top), 0n);
  const healthyFloor = rearm + 50n * unit;
  const healthyCeiling = healthyFloor + 3000n * unit;
  const deep = lowest === alert ? undefined : lowest;
  const lowFloor = deep === undefined ? alert.threshold.minor - 95n * unit : deep.threshold.minor;
  const quietRule = [alert, ...below, ...(sustained === undefined ? [] : [sustained])].find(
    (rule) => rule.quietHours !== null,
  );
  return {
    currency,
    alert,
    deep,
    sustained,
    quiet: quietRule?.quietHours ? { rule: quietRule, hours: quietRule.quietHours } : undefined,
    low: inner(lowFloor, alert.threshold.minor - 1n),
    overdrawn: [lowest.threshold.minor - 250n * unit, lowest.threshold.minor - 5n * unit],
    healthy: [
      healthyFloor,
      sustained === undefined || sustained.threshold.minor > healthyCeiling
        ? healthyCeiling
        : sustained.threshold.minor - unit,
    ],
    savings: sustained && [sustained.threshold.minor, sustained.threshold.minor + 5000n * unit],
  };
}

/** The middle 90% of [low, high], so that no amount sits on a threshold. */
function inner(low: bigint, high: bigint): readonly [bigint, bigint] {
  const margin = (high - low) / 20n;
  return [low + margin, high - margin];
}

/** An amount in [low, high] for a draw in [0, 1), as the command API takes it ("42.17"). */
export function amountIn(range: readonly [bigint, bigint], draw: number, currency: Currency): string {
  const [low, high] = range;
  const span = Number(high - low);
  return formatMoney({ minor: low + BigInt(Math.floor(draw * (span + 1))), currency });
}
