import {
  currentBalanceRank,
  isCurrentBalanceType,
  type BalanceType,
  type CurrentBalanceType,
} from "../values/BalanceType.ts";
import type { CreditLine } from "../values/CreditLine.ts";
import type { Instant } from "../values/Instant.ts";
import type { Currency, Money } from "../values/Money.ts";

/** One balance of a bank's answer (an `OBReadBalance1` entry), already read into domain values. */
export interface ReportedBalance {
  readonly type: BalanceType;
  readonly balance: Money;
  readonly creditLines: readonly CreditLine[];
  /** The bank's DateTime of this balance. */
  readonly referenceTime: Instant;
}

/** A reported balance that may stand for today's balance. */
export interface CurrentBalance extends ReportedBalance {
  readonly type: CurrentBalanceType;
}

/** The balance that counts, or why none does. */
export type CurrentBalanceChoice =
  | { readonly status: "chosen"; readonly balance: CurrentBalance }
  | { readonly status: "none"; readonly reason: "no_current_balance"; readonly detail: string };

/**
 * Which of the balances a bank reported is the customer's balance today: only those in the
 * account's currency (another currency is refused, never converted), then the best type by
 * `CURRENT_BALANCE_PRECEDENCE` (never ForwardAvailable, Expected, Information or
 * PreviouslyClosedBooked), and among several of that type the one the bank dated last. None
 * left: `no_current_balance`, saying what was reported.
 */
export function chooseCurrentBalance(
  balances: readonly ReportedBalance[],
  accountCurrency: Currency,
): CurrentBalanceChoice {
  let best: { readonly balance: CurrentBalance; readonly rank: number } | undefined;
  for (const reported of balances) {
    if (reported.balance.currency !== accountCurrency) continue;
    const { type } = reported;
    const rank = currentBalanceRank(type);
    if (rank === undefined || !isCurrentBalanceType(type)) continue;
    const better =
      best === undefined ||
      rank < best.rank ||
      (rank === best.rank && reported.referenceTime > best.balance.referenceTime);
    if (better) best = { balance: { ...reported, type }, rank };
  }
  if (best !== undefined) return { status: "chosen", balance: best.balance };
  const seen = balances.map((reported) => `${reported.type} ${reported.balance.currency}`);
  return {
    status: "none",
    reason: "no_current_balance",
    detail: `no balance of today in ${accountCurrency} among ${seen.length === 0 ? "none" : seen.join(", ")}`,
  };
}
