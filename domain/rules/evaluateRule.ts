import { unreachable } from "../Decider.ts";
import type { Money } from "../values/Money.ts";
import type { Rule, RuleState, RuleTransition } from "./Rule.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Moves one rule's state for a new balance observed at `referenceTimeMs` (the bank's reference
 * time, epoch ms). Pure; the caller has already dropped stale observations and balances in other
 * currencies.
 */
export function evaluateRule(
  rule: Rule,
  state: RuleState,
  balance: Money,
  referenceTimeMs: number,
): RuleTransition {
  switch (rule.kind) {
    case "below": {
      if (state.status === "held") {
        return balance.minor > rule.rearmAbove.minor
          ? { change: "none", next: { status: "armed", episode: state.episode } }
          : { change: "none", next: state };
      }
      if (state.status !== "qualified" && balance.minor < rule.threshold.minor) {
        return { change: "qualified", next: { status: "qualified", episode: state.episode + 1 } };
      }
      if (state.status === "qualified" && balance.minor > rule.rearmAbove.minor) {
        return { change: "disqualified", next: { status: "armed", episode: state.episode } };
      }
      return { change: "none", next: state };
    }
    case "sustained-at-or-above": {
      const atOrAbove = balance.minor >= rule.threshold.minor;
      switch (state.status) {
        case "armed":
          return atOrAbove
            ? accrueOrQualify(rule.days, referenceTimeMs, state.episode, referenceTimeMs)
            : { change: "none", next: state };
        case "held":
          return atOrAbove
            ? { change: "none", next: state }
            : { change: "none", next: { status: "armed", episode: state.episode } };
        case "accruing":
          return atOrAbove
            ? accrueOrQualify(rule.days, state.sinceMs, state.episode, referenceTimeMs)
            : { change: "none", next: { status: "armed", episode: state.episode } };
        case "qualified":
          return atOrAbove
            ? { change: "none", next: state }
            : { change: "disqualified", next: { status: "armed", episode: state.episode } };
        default:
          return unreachable(state);
      }
    }
    default:
      return unreachable(rule);
  }
}

/**
 * Where a new version of a rule starts for an account it had not watched: from the account's last
 * balance before the rule took effect. What already held then never fires, so that publishing a
 * rule, or moving a threshold, cannot send a storm of alerts; the next balance is then judged as
 * usual (`evaluateRule`), so a balance that crosses the threshold after the change does fire.
 * - `below`: a balance already below the threshold holds the rule (no alert) until the balance
 *   rises above `rearmAbove`; above `rearmAbove` it is armed, or an active episode ends
 *   (disqualified); in between, the rule keeps its state.
 * - `sustained-at-or-above`: no days from before the rule took effect count: it is armed, and
 *   counts from the next balance at or above the threshold; an active episode continues while the
 *   balance stays at or above the threshold, and ends below it.
 */
export function baselineRule(rule: Rule, state: RuleState, balance: Money): RuleTransition {
  switch (rule.kind) {
    case "below":
      if (balance.minor < rule.threshold.minor) {
        return {
          change: "none",
          next: state.status === "qualified" ? state : { status: "held", episode: state.episode },
        };
      }
      if (balance.minor > rule.rearmAbove.minor) {
        return state.status === "qualified"
          ? { change: "disqualified", next: { status: "armed", episode: state.episode } }
          : { change: "none", next: { status: "armed", episode: state.episode } };
      }
      return { change: "none", next: state };
    case "sustained-at-or-above": {
      const atOrAbove = balance.minor >= rule.threshold.minor;
      if (state.status === "qualified") {
        return atOrAbove
          ? { change: "none", next: state }
          : { change: "disqualified", next: { status: "armed", episode: state.episode } };
      }
      return { change: "none", next: { status: "armed", episode: state.episode } };
    }
    default:
      return unreachable(rule);
  }
}

function accrueOrQualify(days: number, sinceMs: number, episode: number, nowMs: number): RuleTransition {
  return nowMs - sinceMs >= days * DAY_MS
    ? { change: "qualified", next: { status: "qualified", episode: episode + 1 } }
    : { change: "none", next: { status: "accruing", episode, sinceMs } };
}
