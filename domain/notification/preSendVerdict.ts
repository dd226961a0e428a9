import { ruleKey } from "../account/accountDecider.ts";
import type { AccountState } from "../account/AccountState.ts";
import { quietHoursEnd } from "../rules/quietHours.ts";
import type { Rule } from "../rules/Rule.ts";
import { epochMsToInstant, instantToEpochMs, type Instant } from "../values/Instant.ts";
import type { TimeZone } from "../values/TimeZone.ts";
import type { NotificationRequest } from "./NotificationState.ts";

/** Whether a requested notification may go now: sent, suppressed for good (why), or deferred. */
export type PreSendVerdict =
  | { readonly kind: "send" }
  | { readonly kind: "suppress"; readonly reason: "opted-out" | "balance-recovered" | "frequency-cap" }
  | { readonly kind: "defer"; readonly until: Instant };

/** What the SMS gateway knows, just before sending, about a request and its account. */
export interface PreSendFacts {
  readonly request: NotificationRequest;
  /** The account as it stands now: open or not, its consents, rule standings and time zone. */
  readonly account: AccountState;
  readonly rules: readonly Rule[];
  /**
   * How many other notifications of the request's rule the account was sent since the start of
   * its `frequencyCapWindow`; 0 when there is no window or nobody counted.
   */
  readonly recentSends: number;
  readonly now: Instant;
}

/**
 * The checks before an SMS goes out, each "no" with its reason: no consent for the message's
 * class, or the account no longer open → suppressed (opted-out); a balance alert whose rule
 * episode is no longer qualified → suppressed (balance-recovered); another SMS of the same rule
 * within its cooldown → suppressed (frequency-cap); inside the rule's quiet hours in the
 * customer's time zone → deferred to their end. A rule gone from the rule set, or kept for
 * another currency than the account's, checks only consent.
 */
export function preSendVerdict(facts: PreSendFacts): PreSendVerdict {
  const { request, account, now } = facts;
  if (account.status !== "open" || !account.consents[request.messageClass])
    return { kind: "suppress", reason: "opted-out" };
  const rule = requestedUnderRule(request, account, facts.rules);
  if (request.rule !== undefined && rule !== undefined) {
    const standing = account.rules[ruleKey(rule.id, account.currency)];
    if (standing?.status !== "qualified" || standing.episode !== request.rule.episode) {
      return { kind: "suppress", reason: "balance-recovered" };
    }
  }
  if (rule !== undefined && rule.cooldownHours > 0 && facts.recentSends > 0) {
    return { kind: "suppress", reason: "frequency-cap" };
  }
  if (rule?.quietHours !== undefined && rule.quietHours !== null) {
    const until = quietHoursEnd(now, account.timeZone as TimeZone, rule.quietHours);
    if (until !== undefined) return { kind: "defer", until };
  }
  return { kind: "send" };
}

/**
 * The frequency cap's window for a request: its rule's id and the start of the rule's cooldown
 * before `now`, over which `recentSends` is counted; undefined when the request has no rule in
 * the account's currency or the rule has no cooldown (nothing to count).
 */
export function frequencyCapWindow(
  request: NotificationRequest,
  account: AccountState,
  rules: readonly Rule[],
  now: Instant,
): { readonly ruleId: string; readonly since: Instant } | undefined {
  const rule = requestedUnderRule(request, account, rules);
  return rule === undefined ? undefined : cooldownWindow(rule, now);
}

/** A rule's cooldown before `now`: its id and where the window starts; undefined without one. */
export function cooldownWindow(
  rule: Rule,
  now: Instant,
): { readonly ruleId: string; readonly since: Instant } | undefined {
  if (rule.cooldownHours <= 0) return undefined;
  return { ruleId: rule.id, since: epochMsToInstant(instantToEpochMs(now) - rule.cooldownHours * 3_600_000) };
}

/** The rule a request was made under, as the account's currency has it; undefined: none. */
export function requestedUnderRule(
  request: NotificationRequest,
  account: AccountState,
  rules: readonly Rule[],
): Rule | undefined {
  if (request.rule === undefined || account.status !== "open") return undefined;
  return rules.find(
    (candidate) => candidate.id === request.rule?.ruleId && candidate.threshold.currency === account.currency,
  );
}
