import type { RuleState } from "../rules/Rule.ts";
import type { MessageClass } from "../values/MessageClass.ts";
import type { CreditLine } from "../values/CreditLine.ts";
import type { Currency, Money } from "../values/Money.ts";
import type { Consents } from "./AccountEvent.ts";

/** The last observation that counted: what later ones are compared with. */
interface LastObservation {
  readonly referenceTime: string;
  /** When Tidemark recorded it (epoch ms): tells whether it came before a rule took effect. */
  readonly observedAtMs: number;
  /**
   * The balance and its credit lines: where a rule that took effect after it starts from (see
   * `baselineRule`).
   */
  readonly balance: Money;
  readonly creditLines: readonly CreditLine[];
  /** In `CURRENT_BALANCE_PRECEDENCE`, 0 best: breaks a tie of reference times. */
  readonly rank: number;
  readonly bankReference: string | null;
}

/**
 * An account stream folded: `absent` before `AccountOpened`, then `open` with what later commands
 * are decided on, then `closed`.
 */
export type AccountState =
  | { readonly status: "absent" }
  | {
      readonly status: "open";
      readonly accountId: string;
      readonly phone: string;
      readonly currency: Currency;
      readonly timeZone: string;
      readonly consents: Consents;
      /** Classes withdrawn by STOP and not changed since: all that a START may give back. */
      readonly withdrawnByKeyword: readonly MessageClass[];
      /** Inbound keyword messages already handled (`keywordMessageKey`): a replay changes nothing. */
      readonly handledKeywordMessages: ReadonlySet<string>;
      /** `null` until a balance has counted. One per account: its one currency. */
      readonly lastObservation: LastObservation | null;
      /** Keyed by `ruleKey(rule id, the account's currency)`. */
      readonly rules: Readonly<Record<string, RuleState>>;
    }
  | { readonly status: "closed"; readonly accountId: string };
