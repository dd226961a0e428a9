import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import type { AccountState } from "../../domain/account/AccountState.ts";
import { accountDecider, accountStreamId, ruleKey } from "../../domain/account/accountDecider.ts";
import type { Rule, RuleState } from "../../domain/rules/Rule.ts";
import { formatMoney, moneyFromData, type Money, type MoneyData } from "../../domain/values/Money.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import { eventTime } from "./timelineQueries.ts";

/** A stored timeline event: its stream, type and data. */
export interface StoredTimelineEvent {
  readonly stream_id: string;
  readonly event_type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The balance that counts now, with where it came from. */
export interface CountedBalanceView {
  readonly amount: string;
  readonly currency: string;
  readonly balanceType: string;
  readonly source: string;
  readonly referenceTime: string;
  readonly observedAt: string;
}

/** What became of the notification a rule's latest episode asked for. */
export interface EpisodeNotificationView {
  readonly notificationId: string;
  /** The last step it reached: requested, suppressed, deferred, submitted, delivered, … */
  readonly outcome: string;
  readonly reason: string | null;
  readonly at: string | null;
}

/** One rule's state for one account: the "why (not)?" of its alerts. */
export interface RuleStateView {
  readonly ruleId: string;
  readonly ruleVersion: number | null;
  readonly kind: Rule["kind"] | null;
  readonly messageClass: string | null;
  readonly state: "armed" | "held" | "accruing" | "qualified" | "not-applicable";
  readonly episode: number;
  /**
   * Accruing: since when the balance has stayed at or above the threshold; qualified: when it
   * fired; held: when this version of the rule took effect.
   */
  readonly since: string | null;
  /** Sustained rules while accruing: whole days accrued, and needed. */
  readonly daysAccrued: number | null;
  readonly daysNeeded: number | null;
  /** Whether the customer consents to the rule's class of message now. */
  readonly consented: boolean | null;
  readonly lastNotification: EpisodeNotificationView | null;
  /** One line: where the rule stands and what would make it alert. */
  readonly explanation: string;
}

/** Where every rule in force stands for one account, and the balance it was judged on. */
export interface AccountRuleStatesView {
  readonly accountId: string;
  readonly status: AccountState["status"];
  readonly currency: string | null;
  readonly balance: CountedBalanceView | null;
  readonly rules: readonly RuleStateView[];
}

const DAY_MS = 86_400_000;

/**
 * Folds the account's events with the account decider's own `evolve` over the rules in force, so
 * the panel says exactly what the next balance would be judged against, then tells each rule's
 * state in words: armed; fired at …; waiting to re-arm above …; sustained since … for N of M days;
 * not applicable to the account's currency. Pure.
 */
export function describeRuleStates(
  accountId: string,
  rules: readonly Rule[],
  bounds: ReferenceTimeBounds,
  events: readonly StoredTimelineEvent[],
): AccountRuleStatesView {
  const decider = accountDecider(rules, bounds);
  const ownStream = accountStreamId(accountId);
  let state = decider.initialState();
  let balance: CountedBalanceView | null = null;
  for (const event of events) {
    if (event.stream_id !== ownStream) continue;
    const before = state;
    state = decider.evolve(state, { type: event.event_type, data: event.data } as AccountEvent);
    if (event.event_type === "BalanceObserved" && state !== before && state.status === "open") {
      balance = countedBalance(event.data);
    }
  }
  if (state.status !== "open") {
    return { accountId, status: state.status, currency: null, balance, rules: [] };
  }
  const context: AccountContext = { state, balance, events };
  const ids = [...new Set(rules.map((rule) => rule.id))];
  return {
    accountId,
    status: "open",
    currency: state.currency,
    balance,
    rules: ids.map((id) => describeRule(id, rules, context)),
  };
}

interface AccountContext {
  readonly state: Extract<AccountState, { status: "open" }>;
  readonly balance: CountedBalanceView | null;
  readonly events: readonly StoredTimelineEvent[];
}

function describeRule(ruleId: string, rules: readonly Rule[], context: AccountContext): RuleStateView {
  const { state } = context;
  const rule = rules.find(
    (candidate) => candidate.id === ruleId && candidate.threshold.currency === state.currency,
  );
  if (rule === undefined) {
    const currencies = rules
      .filter((candidate) => candidate.id === ruleId)
      .map((candidate) => candidate.threshold.currency);
    return {
      ruleId,
      ruleVersion: null,
      kind: null,
      messageClass: null,
      state: "not-applicable",
      episode: 0,
      since: null,
      daysAccrued: null,
      daysNeeded: null,
      consented: null,
      lastNotification: null,
      explanation: `Not applicable: the rule is for balances in ${currencies.join(", ")}; this account is in ${state.currency}.`,
    };
  }
  const ruleState: RuleState = state.rules[ruleKey(rule.id, state.currency)] ?? {
    status: "armed",
    episode: 0,
  };
  const consented = state.consents[rule.messageClass];
  const lastNotification =
    ruleState.episode === 0 ? null : episodeNotification(context.events, rule.id, ruleState.episode);
  const timing = ruleTiming(rule, ruleState, context);
  return {
    ruleId,
    ruleVersion: rule.version,
    kind: rule.kind,
    messageClass: rule.messageClass,
    state: ruleState.status,
    episode: ruleState.episode,
    since: timing.since,
    daysAccrued: timing.daysAccrued,
    daysNeeded: rule.kind === "sustained-at-or-above" ? rule.days : null,
    consented,
    lastNotification,
    explanation: explainRule(rule, ruleState, context, timing, consented, lastNotification),
  };
}

interface RuleTiming {
  readonly since: string | null;
  readonly daysAccrued: number | null;
}

function ruleTiming(rule: Rule, ruleState: RuleState, context: AccountContext): RuleTiming {
  if (ruleState.status === "accruing") {
    const latest = context.balance === null ? ruleState.sinceMs : Date.parse(context.balance.referenceTime);
    return {
      since: new Date(ruleState.sinceMs).toISOString(),
      daysAccrued: Math.max(0, Math.floor((latest - ruleState.sinceMs) / DAY_MS)),
    };
  }
  if (ruleState.status === "qualified") {
    return { since: qualifiedAt(context, rule.id, ruleState.episode), daysAccrued: null };
  }
  if (ruleState.status === "held" && (rule.inForceSinceMs ?? 0) > 0) {
    return { since: new Date(rule.inForceSinceMs ?? 0).toISOString(), daysAccrued: null };
  }
  return { since: null, daysAccrued: null };
}

function explainRule(
  rule: Rule,
  ruleState: RuleState,
  context: AccountContext,
  timing: RuleTiming,
  consented: boolean,
  lastNotification: EpisodeNotificationView | null,
): string {
  const now =
    context.balance === null
      ? "no balance has counted yet"
      : `the balance is ${context.balance.amount} ${context.balance.currency}`;
  const consent = consented
    ? ""
    : ` The customer does not consent to ${rule.messageClass} messages, so an alert would be suppressed.`;
  const sent =
    lastNotification === null
      ? ""
      : ` Its SMS: ${lastNotification.outcome}${lastNotification.reason === null ? "" : ` (${lastNotification.reason})`}.`;
  return `${stateSentence(rule, ruleState, timing)}; ${now}.${sent}${consent}`;
}

function stateSentence(rule: Rule, ruleState: RuleState, timing: RuleTiming): string {
  const threshold = amount(rule.threshold);
  const tookEffect = `version ${rule.version} of the rule took effect${timing.since === null ? "" : ` (${timing.since})`}`;
  if (rule.kind === "below") {
    switch (ruleState.status) {
      case "qualified":
        return `Fired at ${timing.since ?? "an unknown time"} (episode ${ruleState.episode}); waiting to re-arm once the balance rises above ${amount(rule.rearmAbove)}`;
      case "held":
        return `Held: the balance was already below ${threshold} when ${tookEffect}, so it did not alert; it alerts after the balance has risen above ${amount(rule.rearmAbove)} and drops below ${threshold} again`;
      case "armed":
      case "accruing":
        return `Armed: alerts when the balance drops below ${threshold}`;
    }
  }
  switch (ruleState.status) {
    case "held":
      return `Held: the balance was already at or above ${threshold} when ${tookEffect}; the days count once it has dropped below it`;
    case "accruing":
      return `Sustained at or above ${threshold} since ${timing.since ?? "?"}, for ${timing.daysAccrued ?? 0} of ${rule.days} days`;
    case "qualified":
      return `Fired at ${timing.since ?? "an unknown time"} (episode ${ruleState.episode}) after ${rule.days} days at or above ${threshold}; re-arms when the balance drops below it`;
    case "armed":
      return `Armed: fires once the balance has stayed at or above ${threshold} for ${rule.days} days`;
  }
}

function qualifiedAt(context: AccountContext, ruleId: string, episode: number): string | null {
  const event = context.events.findLast(
    (candidate) =>
      candidate.event_type === "AccountQualified" &&
      candidate.data["ruleId"] === ruleId &&
      candidate.data["episode"] === episode,
  );
  return event === undefined ? null : eventTime(event.data);
}

/** The notification an episode asked for, and the last step it reached. */
function episodeNotification(
  events: readonly StoredTimelineEvent[],
  ruleId: string,
  episode: number,
): EpisodeNotificationView | null {
  const request = events.findLast((event) => {
    const rule = event.data["rule"] as { ruleId?: unknown; episode?: unknown } | undefined;
    return (
      event.event_type === "NotificationRequested" && rule?.ruleId === ruleId && rule.episode === episode
    );
  });
  if (request === undefined) return null;
  const latest = events.findLast((event) => event.stream_id === request.stream_id) ?? request;
  return {
    notificationId: request.stream_id.slice("notification-".length),
    ...outcomeOf(latest),
    at: eventTime(latest.data),
  };
}

function outcomeOf(event: StoredTimelineEvent): { readonly outcome: string; readonly reason: string | null } {
  const data = event.data;
  switch (event.event_type) {
    case "NotificationSuppressed":
      return { outcome: "suppressed", reason: text(data["reason"]) };
    case "NotificationDeferred":
      return { outcome: `deferred until ${text(data["until"])}`, reason: text(data["reason"]) };
    case "SmsStatusReported":
      return {
        outcome: text(data["status"]),
        reason: data["errorCode"] === null ? null : `error ${text(data["errorCode"])}`,
      };
    case "SmsSubmissionFailed":
      return {
        outcome: data["retryable"] === true ? "retrying" : "failed",
        reason: `error ${text(data["errorCode"])}`,
      };
    case "SmsSubmitted":
      return { outcome: "submitted", reason: null };
    case "SmsSubmissionStarted":
      return { outcome: "being submitted", reason: null };
    case "SmsValidityLapsed":
      return { outcome: "unknown", reason: "no final report before it expired" };
    case "NotificationCancelled":
      return { outcome: "cancelled", reason: `by ${text(data["by"])}` };
    default:
      return { outcome: "requested", reason: null };
  }
}

function countedBalance(data: Readonly<Record<string, unknown>>): CountedBalanceView {
  const money = moneyFromData(data["balance"] as MoneyData);
  return {
    amount: formatMoney(money),
    currency: money.currency,
    balanceType: String(data["balanceType"]),
    source: String(data["source"]),
    referenceTime: String(data["referenceTime"]),
    observedAt: String(data["observedAt"]),
  };
}

function amount(money: Money): string {
  return `${formatMoney(money)} ${money.currency}`;
}

function text(value: unknown): string {
  return typeof value === "string" || typeof value === "number" ? String(value) : "?";
}
