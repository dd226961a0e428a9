import type { AccountState } from "../account/AccountState.ts";
import { comparedBalance } from "../rules/comparedBalance.ts";
import type { Rule } from "../rules/Rule.ts";
import type { NotificationRequest } from "./NotificationState.ts";
import { requestedUnderRule } from "./preSendVerdict.ts";
import type { TemplateVariables } from "./renderTemplate.ts";
import { displayMoney } from "./ruleNotificationRequest.ts";

/** What a rule's alert states, held against the balance as the rule sees it now. */
export type Restatement =
  | { readonly kind: "as-requested" }
  /** The balance moved and the rule's condition still holds: these variables state it now. */
  | { readonly kind: "restate"; readonly variables: TemplateVariables }
  /**
   * The balance no longer meets the rule's condition, though its episode lasts (a `below` rule
   * re-arms only above `rearmAbove`): "below £100.00" would not be true of it.
   */
  | { readonly kind: "no-longer-true" };

/**
 * An alert is requested when a balance crosses its rule, and may go out later (behind the
 * provider's pace, after a retry, after quiet hours); meanwhile the balance may move within the
 * same episode (50.00, then 3.00, both under 100.00; or back to 120.00, under the re-arming level
 * of 150.00 but no longer under 100.00). An SMS states the balance as it is when it goes, never an
 * older one, and never a condition that no longer holds. The balance is the account's last one
 * as the rule compares it (with or without credit lines, as the rule says), against the rule as
 * it is now (a version published since the request, with another threshold, states that one). A request that
 * states no balance, or whose rule is no longer in force for the account, is as requested.
 */
export function restatement(
  request: NotificationRequest,
  account: AccountState,
  rules: readonly Rule[],
): Restatement {
  if (account.status !== "open" || account.lastObservation === null) return { kind: "as-requested" };
  if (request.variables.balance === undefined) return { kind: "as-requested" };
  const rule = requestedUnderRule(request, account, rules);
  if (rule === undefined) return { kind: "as-requested" };
  const { balance, creditLines } = account.lastObservation;
  const compared = comparedBalance(balance, creditLines, rule.creditLines);
  const holds =
    rule.kind === "below" ? compared.minor < rule.threshold.minor : compared.minor >= rule.threshold.minor;
  if (!holds) return { kind: "no-longer-true" };
  // The rule as it is now decided; a rule published since with another threshold is stated too.
  const balanceNow = displayMoney(compared);
  const thresholdNow = displayMoney(rule.threshold);
  const thresholdStated = request.variables.threshold;
  return balanceNow === request.variables.balance &&
    (thresholdStated === undefined || thresholdStated === thresholdNow)
    ? { kind: "as-requested" }
    : {
        kind: "restate",
        variables: {
          ...request.variables,
          balance: balanceNow,
          ...(thresholdStated === undefined ? {} : { threshold: thresholdNow }),
        },
      };
}
