import { accepted, refused, unreachable, type Decider, type Decision } from "../Decider.ts";
import { comparedBalance } from "../rules/comparedBalance.ts";
import { baselineRule, evaluateRule } from "../rules/evaluateRule.ts";
import type { Rule, RuleState, RuleTransition } from "../rules/Rule.ts";
import { CURRENT_BALANCE_PRECEDENCE, currentBalanceRank, parseBalanceType } from "../values/BalanceType.ts";
import type { CreditLine, CreditLineData } from "../values/CreditLine.ts";
import { addMilliseconds, instantToEpochMs, type Instant } from "../values/Instant.ts";
import { MESSAGE_CLASSES } from "../values/MessageClass.ts";
import { moneyFromData, moneyToData, type Currency, type Money } from "../values/Money.ts";
import {
  DEFAULT_REFERENCE_TIME_BOUNDS,
  placeReferenceTime,
  type ReferenceTimeBounds,
} from "../values/ReferenceTimeBounds.ts";
import type { AccountCommand } from "./AccountCommand.ts";
import type { AccountEvent } from "./AccountEvent.ts";
import type { AccountState } from "./AccountState.ts";

/**
 * Why the account decider refuses a command. The last three refuse a balance that must not count:
 * a reference time out of bounds, another currency than the account's (never converted), a
 * balance type that is not today's balance (see `CURRENT_BALANCE_PRECEDENCE`).
 */
export type AccountRefusal =
  | "account_not_found"
  | "account_already_exists"
  | "account_closed"
  | "reference_time_out_of_bounds"
  | "currency_mismatch"
  | "balance_type_not_current";

type OpenAccountState = Extract<AccountState, { status: "open" }>;

const ARMED: RuleState = { status: "armed", episode: 0 };

/** The stream an account's events live in. */
export function accountStreamId(accountId: string): string {
  return `account-${accountId}`;
}

/**
 * The account decider for a rule set and the bounds of a balance's reference time. Recording a
 * balance refuses one in another currency, of a type that is not today's balance, or referenced
 * outside `bounds` of `now`; otherwise it evaluates every rule of the account's currency, each on
 * the balance with or without credit lines as the rule says, and emits `AccountQualified` /
 * `AccountDisqualified` only when a rule's state changes. Observations are ordered by reference
 * time, and at one reference time by `CURRENT_BALANCE_PRECEDENCE` (so the same balances give the
 * same answer in any order of arrival); one that does not come after the last is recorded as
 * `stale` and changes nothing; a repeated push (same reference time and bank reference) appends
 * nothing.
 *
 * Consent means what the customer said: an SMS STOP withdraws every class granted; START gives
 * back only the classes STOPs withdrew that no explicit answer (API, import) has changed since,
 * never one the customer did not grant; each inbound message is handled once, by its provider id.
 */
export function accountDecider(
  rules: readonly Rule[],
  bounds: ReferenceTimeBounds = DEFAULT_REFERENCE_TIME_BOUNDS,
  rulesetVersion?: number,
): Decider<AccountState, AccountCommand, AccountEvent, AccountRefusal> {
  // Asked for at every balance: grouped by currency and keyed once per decider.
  const rulesOf = keyedRules(rules);
  // Deciding a balance works out how every rule moves; folding the event decided, in the state it
  // was decided in, would work it out again. The last answer is kept, with the event it is for (a
  // WeakMap of every event would cost the garbage collector more than it saves).
  let last: { readonly data: ObservedData; readonly observation: DecidedObservation } | undefined;
  const folding: FoldingWith = {
    rulesOf,
    bounds,
    decided: (data) => (last?.data === data ? last.observation : undefined),
  };
  const deciding: DecidingWith = {
    rulesOf,
    bounds,
    rulesetVersion,
    remember: (data, observation) => (last = { data, observation }),
  };
  return {
    initialState: () => ({ status: "absent" }),
    evolve: (state, event) => evolveAccount(folding, state, event),
    decide: (command, state) => decideAccount(deciding, command, state),
  };
}

/** What the account decider decides with: the rules in force, the set they belong to, the bounds. */
interface DecidingWith {
  readonly rulesOf: RulesOf;
  readonly bounds: ReferenceTimeBounds;
  readonly rulesetVersion: number | undefined;
  /** Keeps what deciding a balance worked out, for folding the event it decided. */
  readonly remember: (data: ObservedData, observation: DecidedObservation) => void;
}

/** What the account decider folds with. */
interface FoldingWith {
  readonly rulesOf: RulesOf;
  readonly bounds: ReferenceTimeBounds;
  /** What deciding this very event worked out, if this decider decided it. */
  readonly decided: (data: ObservedData) => DecidedObservation | undefined;
}

/**
 * A balance as deciding it worked it out, in `state`: its amount and credit lines as values, when
 * it was observed, and how each of the currency's rules (in `RulesOf` order) moves.
 */
interface DecidedObservation {
  readonly state: OpenAccountState;
  readonly balance: Money;
  readonly creditLines: readonly CreditLine[];
  readonly at: ObservationTimes;
  readonly transitions: readonly (readonly RuleTransition[])[];
}

interface ObservationTimes {
  readonly referenceTimeMs: number;
  readonly observedAtMs: number;
}

function decideAccount(
  decidingWith: DecidingWith,
  command: AccountCommand,
  state: AccountState,
): Decision<AccountEvent, AccountRefusal> {
  if (command.type === "OpenAccount") {
    if (state.status !== "absent")
      return refused("account_already_exists", `account ${state.accountId} exists`);
    const { now, ...opened } = command.data;
    return accepted({ type: "AccountOpened", data: { ...opened, openedAt: now } });
  }
  if (state.status === "absent") return refused("account_not_found", "no such account");
  if (state.status === "closed") {
    return command.type === "CloseAccount"
      ? accepted()
      : refused("account_closed", `account ${state.accountId} is closed`);
  }
  switch (command.type) {
    case "ChangeContact":
      return command.data.phone === state.phone
        ? accepted()
        : accepted({
            type: "ContactChanged",
            data: { phone: command.data.phone, changedAt: command.data.now },
          });
    case "ChangeConsent": {
      const { messageClass, granted, source, now } = command.data;
      // An explicit "no" to a class a STOP withdrew changes no grant, but it is recorded all the
      // same: it supersedes the STOP, so a later START must not give that class back.
      return state.consents[messageClass] === granted && !state.withdrawnByKeyword.includes(messageClass)
        ? accepted()
        : accepted({
            type: "ConsentChanged",
            data: { messageClass, granted, source, messageId: null, at: now },
          });
    }
    case "ApplySmsKeyword":
      return applySmsKeyword(command.data, state);
    case "RequestBalanceRefresh":
      return accepted({
        type: "BalanceRefreshRequested",
        data: { reason: command.data.reason, requestedAt: command.data.now },
      });
    case "RecordBalance":
      return recordBalance(decidingWith, command.data, state);
    case "RecordBalanceRefreshFailure":
      return accepted({
        type: "BalanceRefreshFailed",
        data: { reason: command.data.reason, retryable: command.data.retryable, failedAt: command.data.now },
      });
    case "CloseAccount":
      return accepted({
        type: "AccountClosed",
        data: { reason: command.data.reason, closedAt: command.data.now },
      });
    default:
      return unreachable(command);
  }
}

function recordBalance(
  { rulesOf, bounds, rulesetVersion, remember }: DecidingWith,
  observation: Extract<AccountCommand, { type: "RecordBalance" }>["data"],
  state: OpenAccountState,
): Decision<AccountEvent, AccountRefusal> {
  const { balance, creditLines, referenceTime, bankReference, now } = observation;
  const foreign = foreignAmount(balance, creditLines, state.currency);
  if (foreign !== undefined) {
    return refused(
      "currency_mismatch",
      `account ${state.accountId} is in ${state.currency}; a balance in ${foreign.currency} is not its balance`,
    );
  }
  // The type says so, but a command built from JSON (a bulk file, a tool) is checked all the same.
  const balanceType: string = observation.balanceType;
  if (!(CURRENT_BALANCE_PRECEDENCE as readonly string[]).includes(balanceType)) {
    return refused(
      "balance_type_not_current",
      `a ${balanceType} balance is not today's balance (types that count: interim, closing, opening)`,
    );
  }
  const placed = placeReferenceTime(bounds, referenceTime, now);
  if (placed !== "within") {
    return refused(
      "reference_time_out_of_bounds",
      placed === "too-far-ahead"
        ? `referenceTime ${referenceTime} is more than ${bounds.maxFutureSkewMs / 1000} s after now (${now})`
        : `referenceTime ${referenceTime} is more than ${bounds.maxAgeMs / 3_600_000} h before now (${now})`,
    );
  }
  const last = state.lastObservation;
  const rank = rankOf(balanceType);
  const better = last !== null && last.referenceTime === referenceTime && rank < last.rank;
  if (!better && last?.referenceTime === referenceTime && last.bankReference === bankReference) {
    return accepted();
  }
  const stale = last !== null && referenceTime <= last.referenceTime && !better;
  const lines = creditLines.map(creditLineToData);
  const observed: AccountEvent = {
    type: "BalanceObserved",
    data: {
      balance: moneyToData(balance),
      balanceType: observation.balanceType,
      creditLineIncluded: lines.some((line) => line.included),
      creditLines: lines,
      referenceTime,
      observedAt: now,
      source: observation.source,
      bankReference,
      stale,
    },
  };
  if (stale) return accepted(observed);
  const changes: AccountEvent[] = [];
  const at = { referenceTimeMs: instantToEpochMs(referenceTime), observedAtMs: instantToEpochMs(now) };
  const moves: (readonly RuleTransition[])[] = [];
  for (const { rule, key } of rulesOf(state.currency)) {
    const compared = comparedBalance(balance, creditLines, rule.creditLines);
    const transitions = ruleTransitionsAt(rule, key, state, compared, at);
    moves.push(transitions);
    for (const transition of transitions) {
      if (transition.change === "none") continue;
      changes.push({
        type: transition.change === "qualified" ? "AccountQualified" : "AccountDisqualified",
        data: {
          ruleId: rule.id,
          ruleVersion: rule.version,
          ...(rulesetVersion === undefined ? {} : { rulesetVersion }),
          episode: transition.next.episode,
          balance: moneyToData(compared),
          at: now,
        },
      });
    }
  }
  remember(observed.data, { state, balance, creditLines, at, transitions: moves });
  return accepted(observed, ...changes);
}

function applySmsKeyword(
  message: Extract<AccountCommand, { type: "ApplySmsKeyword" }>["data"],
  state: OpenAccountState,
): Decision<AccountEvent, AccountRefusal> {
  const { keyword, provider, messageId, now } = message;
  if (state.handledKeywordMessages.has(keywordMessageKey(provider, messageId))) return accepted();
  const classes =
    keyword === "stop"
      ? MESSAGE_CLASSES.filter((messageClass) => state.consents[messageClass])
      : state.withdrawnByKeyword.filter((messageClass) => !state.consents[messageClass]);
  return accepted(
    { type: "SmsKeywordReceived", data: { keyword, provider, messageId, receivedAt: now } },
    ...classes.map((messageClass): AccountEvent => ({
      type: "ConsentChanged",
      data: { messageClass, granted: keyword === "start", source: "sms-keyword", messageId, at: now },
    })),
  );
}

/** One inbound message: provider ids are unique per provider only. */
function keywordMessageKey(provider: string, messageId: string): string {
  return `${provider}/${messageId}`;
}

function evolveAccount(folding: FoldingWith, state: AccountState, event: AccountEvent): AccountState {
  if (event.type === "AccountOpened") return openedAccount(event.data);
  if (state.status !== "open") return state;
  switch (event.type) {
    case "ContactChanged":
      return { ...state, phone: event.data.phone };
    case "ConsentChanged": {
      const { messageClass, granted, source } = event.data;
      const others = state.withdrawnByKeyword.filter((withdrawn) => withdrawn !== messageClass);
      return {
        ...state,
        consents: { ...state.consents, [messageClass]: granted },
        withdrawnByKeyword: source === "sms-keyword" && !granted ? [...others, messageClass] : others,
      };
    }
    case "SmsKeywordReceived":
      return {
        ...state,
        handledKeywordMessages: new Set(state.handledKeywordMessages).add(
          keywordMessageKey(event.data.provider, event.data.messageId),
        ),
      };
    case "BalanceRefreshRequested":
    case "BalanceRefreshFailed":
      return state;
    case "BalanceObserved":
      return observeBalance(folding, state, event.data);
    case "AccountQualified":
    case "AccountDisqualified":
      return settleQualification(state, event);
    case "AccountClosed":
      return { status: "closed", accountId: state.accountId };
    default:
      return unreachable(event);
  }
}

type OpenedData = Extract<AccountEvent, { type: "AccountOpened" }>["data"];
type ObservedData = Extract<AccountEvent, { type: "BalanceObserved" }>["data"];

/** The state of a just-opened account: nothing observed, every rule armed (absent means armed). */
function openedAccount(data: OpenedData): OpenAccountState {
  const { accountId, phone, currency, timeZone, consents } = data;
  return {
    status: "open",
    accountId,
    phone,
    currency,
    timeZone,
    consents,
    withdrawnByKeyword: [],
    handledKeywordMessages: new Set(),
    lastObservation: null,
    rules: {},
  };
}

/**
 * An observed balance that counts becomes the last observation and moves the sustained rules on.
 * Qualification itself comes from the AccountQualified / AccountDisqualified events that follow;
 * here only the quiet progress of sustained rules (accruing or reset) is kept.
 */
function observeBalance(folding: FoldingWith, state: OpenAccountState, data: ObservedData): OpenAccountState {
  if (!countsInEvolve(folding.bounds, state, data)) return state;
  // Worked out when this event was decided, in this state: the same answer again, not recomputed.
  const known = folding.decided(data);
  const decided = known?.state === state ? known : undefined;
  const balance = decided?.balance ?? moneyFromData(data.balance);
  const creditLines = decided?.creditLines ?? (data.creditLines ?? []).map(creditLineFromData);
  const at: ObservationTimes = decided?.at ?? {
    referenceTimeMs: instantToEpochMs(data.referenceTime as Instant),
    observedAtMs: instantToEpochMs(data.observedAt as Instant),
  };
  // Copied only when a rule moves: most balances leave every rule as it was.
  let moved: Record<string, RuleState> | undefined;
  let index = 0;
  for (const { rule, key } of folding.rulesOf(state.currency)) {
    const transitions =
      decided?.transitions[index] ??
      ruleTransitionsAt(rule, key, state, comparedBalance(balance, creditLines, rule.creditLines), at);
    index += 1;
    const last = transitions.at(-1);
    // A qualification or disqualification is folded from its own event, which follows.
    if (last === undefined || transitions.some((transition) => transition.change !== "none")) continue;
    if (((moved ?? state.rules)[key] ?? ARMED) === last.next) continue;
    moved ??= { ...state.rules };
    moved[key] = last.next;
  }
  return {
    ...state,
    rules: moved ?? state.rules,
    lastObservation: {
      referenceTime: data.referenceTime,
      observedAtMs: at.observedAtMs,
      balance,
      creditLines,
      rank: rankOf(data.balanceType),
      bankReference: data.bankReference,
    },
  };
}

/** A rule qualified or disqualified: its state becomes qualified or armed for that episode. */
function settleQualification(
  state: OpenAccountState,
  event: Extract<AccountEvent, { type: "AccountQualified" | "AccountDisqualified" }>,
): OpenAccountState {
  // Another currency's qualification can only come from a log written before balances in
  // other currencies were refused: it never was the account's rule.
  if (event.data.balance.currency !== state.currency) return state;
  const key = ruleKey(event.data.ruleId, state.currency);
  const next: RuleState =
    event.type === "AccountQualified"
      ? { status: "qualified", episode: event.data.episode }
      : { status: "armed", episode: event.data.episode };
  return { ...state, rules: { ...state.rules, [key]: next } };
}

/** The rules of a currency, each with its state key (`ruleKey`). */
type RulesOf = (currency: Currency) => readonly { readonly rule: Rule; readonly key: string }[];

/** `rules` by currency, each answer made once: a decider asks at every balance. */
function keyedRules(rules: readonly Rule[]): RulesOf {
  const byCurrency = new Map<Currency, readonly { readonly rule: Rule; readonly key: string }[]>();
  return (currency) => {
    let found = byCurrency.get(currency);
    if (found === undefined) {
      found = rules
        .filter((rule) => rule.threshold.currency === currency)
        .map((rule) => ({ rule, key: ruleKey(rule.id, currency) }));
      byCurrency.set(currency, found);
    }
    return found;
  };
}

/** The balance, or the first credit line, in another currency than the account's. */
function foreignAmount(
  balance: Money,
  creditLines: readonly CreditLine[],
  currency: Currency,
): Money | undefined {
  if (balance.currency !== currency) return balance;
  for (const line of creditLines) {
    if (line.amount !== null && line.amount.currency !== currency) return line.amount;
  }
  return undefined;
}

/**
 * Whether a recorded observation moves the state. Besides stale ones, two kinds only found in
 * logs written before the decider refused them are passed over: a balance in another currency,
 * and one referenced beyond the future bound of the time it was observed — left in, it would
 * make every later balance stale and keep the account silent even after a replay.
 */
function countsInEvolve(bounds: ReferenceTimeBounds, state: OpenAccountState, data: ObservedData): boolean {
  if (data.stale || data.balance.currency !== state.currency) return false;
  const observedMs = instantToEpochMs(data.observedAt as Instant);
  const referenceMs = instantToEpochMs(data.referenceTime as Instant);
  if (!Number.isNaN(observedMs) && !Number.isNaN(referenceMs)) {
    return referenceMs <= observedMs + bounds.maxFutureSkewMs;
  }
  // Text an older writer left: compared as text, as canonical instants compare.
  return data.referenceTime <= addMilliseconds(data.observedAt as Instant, bounds.maxFutureSkewMs);
}

/** A type's place in the precedence; past the end for what older events may hold (any letters). */
function rankOf(balanceType: string): number {
  const type = parseBalanceType(balanceType);
  return (type === undefined ? undefined : currentBalanceRank(type)) ?? CURRENT_BALANCE_PRECEDENCE.length;
}

function creditLineToData(line: CreditLine): CreditLineData {
  return { ...line, amount: line.amount === null ? null : moneyToData(line.amount) };
}

function creditLineFromData(line: CreditLineData): CreditLine {
  return { ...line, amount: line.amount === null ? null : moneyFromData(line.amount) };
}

/**
 * How one rule moves for a balance that counts, observed at `observedAtMs`: not at all when the
 * balance was observed before this version of the rule took effect. When it is the first balance
 * the rule sees and the account's last balance came before the rule took effect, the rule first
 * takes that last balance as its baseline (`baselineRule`: what already held then never fires),
 * then judges the new one from there (`evaluateRule`): a balance that crosses the new threshold
 * after the change fires; one that was already past it does not. Decide and evolve both ask
 * here, so a replay under the same rules folds to the state the decisions were made in.
 */
function ruleTransitionsAt(
  rule: Rule,
  key: string,
  state: OpenAccountState,
  compared: Money,
  at: ObservationTimes,
): readonly RuleTransition[] {
  const inForceSinceMs = rule.inForceSinceMs ?? 0;
  if (at.observedAtMs < inForceSinceMs) return [];
  const last = state.lastObservation;
  if (last === null || last.observedAtMs >= inForceSinceMs) {
    return [evaluateRule(rule, ruleState(state, key), compared, at.referenceTimeMs)];
  }
  const before = comparedBalance(last.balance, last.creditLines, rule.creditLines);
  const baseline = baselineRule(rule, ruleState(state, key), before);
  return [baseline, evaluateRule(rule, baseline.next, compared, at.referenceTimeMs)];
}

function ruleState(state: OpenAccountState, key: string): RuleState {
  return state.rules[key] ?? ARMED;
}

/** One rule's state per currency: episodes of `low-balance` in GBP and in EUR are counted apart. */
export function ruleKey(ruleId: string, currency: Currency): string {
  return `${ruleId}/${currency}`;
}
