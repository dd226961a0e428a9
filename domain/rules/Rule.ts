import type { MessageClass } from "../values/MessageClass.ts";
import type { Money } from "../values/Money.ts";

/** Local-time window in which a message must not be sent ("21:00"–"08:00" wraps midnight). */
export interface QuietHours {
  readonly start: string;
  readonly end: string;
}

/**
 * Whether a rule compares the balance with or without the credit lines the bank reported with it
 * (see `comparedBalance`): `excluded` is the customer's own money, `included` what they can spend.
 */
export type CreditLineChoice = "excluded" | "included";

interface RuleCommon {
  readonly id: string;
  readonly version: number;
  readonly messageClass: MessageClass;
  readonly templateId: string;
  /** Minimum time between two notifications of this rule to one account. */
  readonly cooldownHours: number;
  /** `null`: may send at any hour. */
  readonly quietHours: QuietHours | null;
  readonly creditLines: CreditLineChoice;
  /**
   * When this version of the rule took effect (epoch ms): the publication of the rule set that
   * brought it. Absent or 0: it always held (the first rule set, or a file read as it stands).
   * A rule never looks back past it (see `baselineRule`).
   */
  readonly inForceSinceMs?: number;
}

/**
 * A qualification rule for one currency (a balance in another currency never touches it).
 * - `below`: qualifies when the balance drops below `threshold`; re-armed only once the balance
 *   rises above `rearmAbove` (hysteresis: no alert storm while hovering at the threshold).
 * - `sustained-at-or-above`: qualifies when the balance has stayed at or above `threshold` for
 *   `days` days, as seen by consecutive observations; any observation below resets it.
 */
export type Rule =
  | (RuleCommon & { readonly kind: "below"; readonly threshold: Money; readonly rearmAbove: Money })
  | (RuleCommon & {
      readonly kind: "sustained-at-or-above";
      readonly threshold: Money;
      readonly days: number;
    });

/**
 * Where one rule stands for one account. `episode` counts qualifications, so it names each one.
 * `held`: the rule's condition already held when this version of the rule took effect; it fires
 * only after the balance has left it (see `baselineRule`).
 */
export type RuleState =
  | { readonly status: "armed"; readonly episode: number }
  | { readonly status: "held"; readonly episode: number }
  | { readonly status: "accruing"; readonly episode: number; readonly sinceMs: number }
  | { readonly status: "qualified"; readonly episode: number };

/** What a balance observation does to one rule. */
export type RuleTransition =
  | { readonly change: "none"; readonly next: RuleState }
  | { readonly change: "qualified"; readonly next: RuleState }
  | { readonly change: "disqualified"; readonly next: RuleState };
