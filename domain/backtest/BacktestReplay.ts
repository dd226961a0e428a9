import { accountDecider } from "../account/accountDecider.ts";
import { ACCOUNT_EVENT_TYPES, accountEventTime, type AccountEvent } from "../account/AccountEvent.ts";
import type { AccountState } from "../account/AccountState.ts";
import type { Decider } from "../Decider.ts";
import type { AccountCommand } from "../account/AccountCommand.ts";
import { notificationDecider } from "../notification/notificationDecider.ts";
import { frequencyCapWindow, preSendVerdict } from "../notification/preSendVerdict.ts";
import { ruleNotificationRequest, type QualifiedData } from "../notification/ruleNotificationRequest.ts";
import type { Templates } from "../notification/Templates.ts";
import type { NotificationRequest } from "../notification/NotificationState.ts";
import type { Rule } from "../rules/Rule.ts";
import { ruleBookFromRules, type RuleBook } from "../ruleset/RuleBook.ts";
import type { CreditLineData } from "../values/CreditLine.ts";
import { epochMsToInstant, instantToEpochMs, parseInstant, type Instant } from "../values/Instant.ts";
import { moneyFromData, type MoneyData } from "../values/Money.ts";
import { rememberingPhoneParser } from "../values/PhoneNumber.ts";
import { DEFAULT_REFERENCE_TIME_BOUNDS, type ReferenceTimeBounds } from "../values/ReferenceTimeBounds.ts";
import {
  emptyFunnel,
  sampledChanges,
  sortedRows,
  type BacktestResult,
  type Funnel,
  type SampledChange,
} from "./BacktestResult.ts";

/** One event of the log, as the backtest reads it (no metadata). */
export interface LoggedEvent {
  readonly streamId: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface BacktestOptions {
  /** The candidate rules, as if they had always been in force. */
  readonly rules: readonly Rule[];
  /** The SMS templates: a qualification's request is rendered as the qualification policy would. */
  readonly templates: Templates;
  /** Decisions counted: those made at or after `fromMs` and before `toMs`. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly bounds?: ReferenceTimeBounds;
  /** How long a qualification may still be announced (the qualification policy's, 24 h). */
  readonly validForMs?: number;
  /** Accounts that would gain or lose an alert kept as examples, of each kind. */
  readonly sampleSize?: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const ACCOUNT_STREAM_PREFIX = "account-";
const accountIdOf = (streamId: string): string => streamId.slice(ACCOUNT_STREAM_PREFIX.length);
const ACCOUNT_TYPES: ReadonlySet<string> = new Set(ACCOUNT_EVENT_TYPES);
/** The notification events counted as what actually happened. */
const COUNTED_NOTIFICATION_TYPES = [
  "NotificationRequested",
  "NotificationSuppressed",
  "NotificationDeferred",
  "SmsSubmissionStarted",
] as const;

/**
 * The only types a replay looks at: every other event passes through it unseen, so a reader may
 * leave them out. (`AccountDisqualified` changes nothing the candidate decides: it decides its own.)
 */
export const REPLAYED_EVENT_TYPES: readonly string[] = [
  ...ACCOUNT_EVENT_TYPES.filter((type) => type !== "AccountDisqualified"),
  ...COUNTED_NOTIFICATION_TYPES,
];

/** A notification held to the end of quiet hours; `funnel` is where its outcome is counted, if anywhere. */
interface Deferred {
  readonly request: NotificationRequest;
  readonly untilMs: number;
  readonly funnel: Funnel | undefined;
}

/** What the replay keeps of one account: found once per event, by its stream. */
interface ReplayedAccount {
  /** As the candidate rules would have left it. */
  state: AccountState;
  /** Its notifications deferred to the end of quiet hours, checked again then. */
  deferred: readonly Deferred[];
  /** When the candidate would have sent it each rule's SMS, by rule id. */
  readonly sentAt: Map<string, number[]>;
}

/**
 * Replays a recorded history through a candidate rule set, with the domain's own deciders, and
 * counts what would have happened beside what did. Pure and in memory: it appends nothing, sends
 * nothing and writes no read model; feed it the log in global order with `apply`.
 *
 * For every account it keeps the state the candidate rules would have built. Each recorded
 * balance is decided again under the candidate (the account decider, as the command side
 * decides a push); each qualification it makes goes through the qualification policy's decision
 * (`ruleNotificationRequest`) and the pre-send checks as they stood at that moment (consent then,
 * quiet hours in the customer's zone, the rule's cooldown against the sends the candidate would
 * have made, a recovered balance), in the customer's state at that moment. Recorded
 * qualifications and notification events are counted as what actually happened.
 *
 * A notification deferred to the end of quiet hours is checked again in the account's state at
 * that time: before the first of its account's events from then on, or, when there is none, at
 * the end of the log (`result`). Nothing one account's replay decides depends on another
 * account's events, so replaying a log split into parts by stream, each part whole streams, and
 * merging the parts' results (`mergeBacktestResults`) gives exactly what one replay gives.
 */
export class BacktestReplay {
  readonly #decider: Decider<AccountState, AccountCommand, AccountEvent, string>;
  readonly #accounts = new Map<string, ReplayedAccount>();
  readonly #rows = new Map<string, { candidate: Funnel; actual: Funnel }>();
  readonly #notificationRules = new Map<string, string>();
  readonly #qualifiedByAccount = new Map<
    string,
    { candidate: SampledChange["candidate"]; actual: SampledChange["actual"] }
  >();
  readonly #book: RuleBook;
  /** Each account's phone is checked once per replay, not at every alert. */
  readonly #parsePhone = rememberingPhoneParser();
  #balances = 0;
  #balancesInWindow = 0;
  /** The latest balance's time: at the end, deferrals due later are still waiting. */
  #latestMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: BacktestOptions) {
    this.#decider = accountDecider(options.rules, options.bounds ?? DEFAULT_REFERENCE_TIME_BOUNDS);
    this.#book = ruleBookFromRules(options.rules);
  }

  /** Balances replayed so far (for progress). */
  get balancesReplayed(): number {
    return this.#balances;
  }

  /** The time of the latest balance replayed: where the log ends, for `result`. */
  get latestBalanceMs(): number {
    return this.#latestMs;
  }

  apply(event: LoggedEvent): void {
    if (event.streamId.startsWith(ACCOUNT_STREAM_PREFIX)) this.#applyToAccount(event);
    else if (event.streamId.startsWith("notification-")) this.#countNotification(event);
  }

  #applyToAccount(event: LoggedEvent): void {
    const { streamId } = event;
    let account = this.#accounts.get(streamId);
    if (account === undefined) {
      account = { state: this.#decider.initialState(), deferred: [], sentAt: new Map() };
      this.#accounts.set(streamId, account);
    }
    if (account.deferred.length > 0 && ACCOUNT_TYPES.has(event.type)) {
      this.#wakeDeferred(account, epochMsOf(accountEventTime(event as unknown as AccountEvent)));
    }
    switch (event.type) {
      case "BalanceObserved":
        this.#replayBalance(streamId, account, event.data);
        return;
      case "AccountQualified":
        this.#countActualQualification(accountIdOf(streamId), event.data);
        return;
      case "AccountDisqualified":
        return;
      default:
        // Types this version does not know (a newer writer's) cannot move the state it knows.
        if (!ACCOUNT_TYPES.has(event.type)) return;
        account.state = this.#decider.evolve(account.state, event as unknown as AccountEvent);
    }
  }

  #replayBalance(streamId: string, account: ReplayedAccount, data: Readonly<Record<string, unknown>>): void {
    this.#balances += 1;
    const now = data["observedAt"];
    const atMs = epochMsOf(now);
    if (Number.isNaN(atMs)) return;
    this.#latestMs = Math.max(this.#latestMs, atMs);
    if (this.#inWindow(atMs)) this.#balancesInWindow += 1;
    const decision = this.#decider.decide(recordBalanceOf(data, now as Instant), account.state);
    if (decision.outcome === "refused") return;
    for (const decided of decision.events) {
      account.state = this.#decider.evolve(account.state, decided);
      if (decided.type === "AccountQualified")
        this.#announce(accountIdOf(streamId), account, decided.data, atMs);
    }
  }

  /** A candidate qualification: counted, then requested and checked as the system would have. */
  #announce(accountId: string, account: ReplayedAccount, qualified: QualifiedData, atMs: number): void {
    const counted = this.#inWindow(atMs);
    const funnel = this.#row(atMs, qualified.ruleId).candidate;
    if (counted) {
      funnel.qualified += 1;
      this.#sample(accountId, qualified.ruleId).candidate ??= { at: qualified.at, data: qualified };
    }
    const now = qualified.at as Instant;
    const decision = ruleNotificationRequest({
      accountId,
      qualified,
      account: account.state,
      rules: this.#book,
      templates: this.options.templates,
      now,
      validForMs: this.options.validForMs ?? 24 * HOUR_MS,
      parsePhone: this.#parsePhone,
    });
    if (decision.outcome !== "request") return;
    const requested = notificationDecider.decide(decision.command, notificationDecider.initialState());
    const request = requested.outcome === "accepted" ? requested.events[0] : undefined;
    if (request?.type !== "NotificationRequested") return;
    if (counted) funnel.requested += 1;
    this.#check(request.data, account, atMs, counted ? funnel : undefined);
  }

  /**
   * The pre-send checks at `atMs` in the account's state then: suppressed (by reason), deferred
   * (checked again when the replay reaches the end of quiet hours), or sent.
   */
  #check(
    request: NotificationRequest,
    account: ReplayedAccount,
    atMs: number,
    funnel: Funnel | undefined,
  ): void {
    const { state } = account;
    const ruleId = request.rule?.ruleId ?? "";
    const sends = account.sentAt.get(ruleId) ?? [];
    const now = epochMsToInstant(atMs);
    // The cooldown's window as the SMS gateway takes it, over the sends the candidate would have made.
    const window = frequencyCapWindow(request, state, this.options.rules, now);
    const sinceMs = window === undefined ? Number.POSITIVE_INFINITY : instantToEpochMs(window.since);
    const recentSends = sends.filter((sentAt) => sentAt >= sinceMs).length;
    const verdict = preSendVerdict({ request, account: state, rules: this.options.rules, recentSends, now });
    switch (verdict.kind) {
      case "suppress":
        if (funnel !== undefined)
          funnel.suppressed[verdict.reason] = (funnel.suppressed[verdict.reason] ?? 0) + 1;
        return;
      case "defer": {
        if (funnel !== undefined) funnel.deferred += 1;
        account.deferred = [
          ...account.deferred,
          { request, untilMs: instantToEpochMs(verdict.until), funnel },
        ];
        return;
      }
      case "send":
        if (funnel !== undefined) funnel.sent += 1;
        sends.push(atMs);
        account.sentAt.set(ruleId, sends);
        return;
    }
  }

  /**
   * An account's deferred notifications whose quiet hours ended by `atMs`: checked again, in order
   * of their ends, in the account's state now. A check may defer again (kept for later).
   */
  #wakeDeferred(account: ReplayedAccount, atMs: number): void {
    const due = account.deferred.filter((deferred) => deferred.untilMs <= atMs);
    if (due.length === 0) return;
    account.deferred = account.deferred.filter((deferred) => deferred.untilMs > atMs);
    for (const { request, untilMs, funnel } of due.sort((a, b) => a.untilMs - b.untilMs)) {
      this.#check(request, account, untilMs, funnel);
    }
  }

  #countActualQualification(accountId: string, data: Readonly<Record<string, unknown>>): void {
    const at = data["at"] as string;
    const atMs = epochMsOf(at);
    if (!this.#inWindow(atMs)) return;
    const ruleId = String(data["ruleId"]);
    this.#row(atMs, ruleId).actual.qualified += 1;
    this.#sample(accountId, ruleId).actual ??= { at, data: data as unknown as QualifiedData };
  }

  #countNotification(event: LoggedEvent): void {
    const { data } = event;
    if (event.type === "NotificationRequested") {
      const rule = data["rule"] as { ruleId?: unknown } | undefined;
      if (typeof rule?.ruleId !== "string") return;
      this.#notificationRules.set(event.streamId, rule.ruleId);
      this.#countActual(rule.ruleId, data["requestedAt"], (funnel) => (funnel.requested += 1));
      return;
    }
    const ruleId = this.#notificationRules.get(event.streamId);
    if (ruleId === undefined) return;
    if (event.type === "NotificationSuppressed") {
      const reason = String(data["reason"]);
      this.#countActual(
        ruleId,
        data["at"],
        (funnel) => (funnel.suppressed[reason] = (funnel.suppressed[reason] ?? 0) + 1),
      );
    } else if (event.type === "NotificationDeferred") {
      this.#countActual(ruleId, data["at"], (funnel) => (funnel.deferred += 1));
    } else if (event.type === "SmsSubmissionStarted" && data["attempt"] === 1) {
      this.#countActual(ruleId, data["at"], (funnel) => (funnel.sent += 1));
    }
  }

  #countActual(ruleId: string, at: unknown, count: (funnel: Funnel) => void): void {
    const atMs = epochMsOf(at);
    if (this.#inWindow(atMs)) count(this.#row(atMs, ruleId).actual);
  }

  #inWindow(atMs: number): boolean {
    return atMs >= this.options.fromMs && atMs < this.options.toMs;
  }

  #row(atMs: number, ruleId: string): { candidate: Funnel; actual: Funnel } {
    // By the day's number: formatting the date of every decision costs more than the counting.
    const key = `${Math.floor(atMs / DAY_MS)}\u0000${ruleId}`;
    let row = this.#rows.get(key);
    if (row === undefined) {
      row = { candidate: emptyFunnel(), actual: emptyFunnel() };
      this.#rows.set(key, row);
    }
    return row;
  }

  #sample(
    accountId: string,
    ruleId: string,
  ): { candidate: SampledChange["candidate"]; actual: SampledChange["actual"] } {
    const key = `${accountId}\u0000${ruleId}`;
    let entry = this.#qualifiedByAccount.get(key);
    if (entry === undefined) {
      entry = { candidate: null, actual: null };
      this.#qualifiedByAccount.set(key, entry);
    }
    return entry;
  }

  /**
   * What the replay found: per day and rule, candidate beside actual; and sample accounts. The
   * log ends at `endMs` (by default its latest balance; a part of a log passes the whole log's):
   * deferrals due by then are checked in their account's last state, and one whose quiet hours
   * end later is still waiting, as a deferred notification in the log is: counted deferred, not
   * sent. Call it once, at the end.
   */
  result(endMs: number = this.#latestMs): BacktestResult {
    for (const account of this.#accounts.values()) {
      if (account.deferred.length > 0) this.#wakeDeferred(account, endMs);
    }
    const rows = [...this.#rows.entries()].map(([key, row]) => {
      const [day = "", ruleId = ""] = key.split("\u0000");
      return { day: epochMsToInstant(Number(day) * DAY_MS).slice(0, 10), ruleId, ...row };
    });
    const changes = [...this.#qualifiedByAccount].map(([key, entry]): SampledChange => {
      const [accountId = "", ruleId = ""] = key.split("\u0000");
      return { accountId, ruleId, ...entry };
    });
    return {
      balancesReplayed: this.#balances,
      balancesInWindow: this.#balancesInWindow,
      rows: sortedRows(rows),
      ...sampledChanges(changes, this.options.sampleSize ?? 20),
    };
  }
}

/** Epoch ms of a recorded time (canonical UTC text, as every event writes it); NaN for anything else. */
function epochMsOf(text: unknown): number {
  const instant = typeof text === "string" ? parseInstant(text) : undefined;
  return instant === undefined ? Number.NaN : instantToEpochMs(instant);
}

/** The push a recorded balance was: decided again under the candidate rules, at the time it was. */
function recordBalanceOf(data: Readonly<Record<string, unknown>>, now: Instant): AccountCommand {
  return {
    type: "RecordBalance",
    data: {
      balance: moneyFromData(data["balance"] as MoneyData),
      balanceType: data["balanceType"] as Extract<
        AccountCommand,
        { type: "RecordBalance" }
      >["data"]["balanceType"],
      creditLines: ((data["creditLines"] as readonly CreditLineData[] | undefined) ?? []).map((line) => ({
        ...line,
        amount: line.amount === null ? null : moneyFromData(line.amount),
      })),
      referenceTime: data["referenceTime"] as Instant,
      source: data["source"] as "push" | "pull",
      bankReference: (data["bankReference"] as string | null | undefined) ?? null,
      now,
    },
  };
}
