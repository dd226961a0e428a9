import type { CreditLine } from "../values/CreditLine.ts";
import type { Money } from "../values/Money.ts";
import type { CreditLineChoice } from "./Rule.ts";

/**
 * The amount a rule compares with its threshold. A bank reports a balance and, beside it, credit
 * lines that it says are `included` in the amount or not:
 * - `excluded`: the amount less every included line (the customer's own money);
 * - `included`: the amount plus every line not yet included (what the customer can spend).
 * A line without an amount contributes nothing: nothing is known to add or take away. A line in
 * another currency also contributes nothing (the account decider refuses such a balance first).
 */
export function comparedBalance(
  balance: Money,
  creditLines: readonly CreditLine[],
  choice: CreditLineChoice,
): Money {
  if (creditLines.length === 0) return balance;
  let minor = balance.minor;
  for (const line of creditLines) {
    if (line.amount === null || line.amount.currency !== balance.currency) continue;
    if (choice === "excluded" && line.included) minor -= line.amount.minor;
    if (choice === "included" && !line.included) minor += line.amount.minor;
  }
  return { minor, currency: balance.currency };
}
