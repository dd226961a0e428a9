import { createHash } from "node:crypto";
import { ruleKey } from "../../domain/account/accountDecider.ts";
import { unreachable } from "../../domain/Decider.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import type { Currency } from "../../domain/values/Money.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";
import type { FinalStatus } from "../../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { amountIn, demoLevels, type DemoLevels } from "./demoLevels.ts";
import { quietHoursZones } from "./quietHoursZones.ts";

/** What the demo makes of one account; each case is a line of the funnel an operator should see. */
export type DemoCase =
  | "neverCrossed"
  | "qualifiedDelivered"
  | "overdrawn"
  | "failedOrUndelivered"
  | "suppressedOptedOut"
  | "stoppedBySms"
  | "frequencyCapped"
  | "pulledFromBank"
  | "staleBalance"
  | "savingsOffer"
  | "deferredQuietHours";

/** One cycle of 40 accounts, shuffled per seed: every case appears in each cycle, in these numbers. */
const DECK: readonly (readonly [DemoCase, number])[] = [
  ["neverCrossed", 13],
  ["qualifiedDelivered", 9],
  ["overdrawn", 2],
  ["failedOrUndelivered", 2],
  ["suppressedOptedOut", 2],
  ["stoppedBySms", 1],
  ["frequencyCapped", 2],
  ["pulledFromBank", 2],
  ["staleBalance", 2],
  ["savingsOffer", 2],
  ["deferredQuietHours", 3],
];
/** Every case, in the deck's order. */
export const DEMO_CASES: readonly DemoCase[] = DECK.map(([demoCase]) => demoCase);

const CYCLE = DECK.flatMap(([demoCase, count]) => Array.from({ length: count }, () => demoCase));

/** How many accounts of each case are examples (listed, and pinned to their outcome at the simulator). */
export const EXAMPLES_PER_CASE = 10;

/** Cases whose examples are pinned "delivered" at the SMS simulator, so that they are what they say. */
const DELIVERED_CASES: ReadonlySet<DemoCase> = new Set([
  "qualifiedDelivered",
  "overdrawn",
  "frequencyCapped",
  "pulledFromBank",
  "savingsOffer",
  "deferredQuietHours",
]);

/** One thing done to an account, in order, through the public APIs. */
export type DemoStep =
  | { readonly kind: "push"; readonly amount: string; readonly referenceTime: string }
  | { readonly kind: "withdrawConsent"; readonly messageClass: MessageClass }
  | { readonly kind: "textStop" }
  | { readonly kind: "pull"; readonly amount: string }
  /** Waits until the rule's SMS of that episode went to a provider (what the frequency cap counts). */
  | { readonly kind: "awaitSent"; readonly ruleId: string; readonly episode: number };

export interface DemoAccount {
  readonly accountId: string;
  readonly demoCase: DemoCase;
  /** `POST /accounts` without the id. */
  readonly opening: {
    readonly customerId: string;
    readonly phone: string;
    readonly currency: Currency;
    readonly timeZone: string;
    readonly consents: { readonly service: boolean; readonly marketing: boolean };
  };
  /** Pinned at the SMS simulator before anything else; undefined: its outcome mix decides. */
  readonly outcome: FinalStatus | undefined;
  readonly steps: readonly DemoStep[];
  /** One of the first EXAMPLES_PER_CASE accounts of its case. */
  readonly example: boolean;
  /**
   * The rule key (`savings-offer/GBP`) a history of many days must qualify, when its case has
   * one: a system that refuses balances that old leaves the account accruing instead.
   */
  readonly sustainedRuleKey: string | undefined;
}

export interface DemoPlanOptions {
  readonly seed: string;
  readonly accounts: number;
  readonly nowMs: number;
  readonly rules: readonly Rule[];
  /** Whether the Banking API simulator answers: without it a pull becomes a push. */
  readonly canPull: boolean;
}

export interface DemoPlan {
  readonly accounts: readonly DemoAccount[];
  /** The zones chosen for quiet hours at plan time; undefined: no rule has quiet hours. */
  readonly zones: { readonly night: TimeZone | undefined; readonly day: TimeZone | undefined } | undefined;
  /** Cases the rules in force (or the system) cannot show, and what stands in for them. */
  readonly notes: readonly string[];
}

/** The demo's accounts for a seed: the same seed always gives the same ids, phones, cases and amounts. */
export function planDemo(options: DemoPlanOptions): DemoPlan {
  const levelsOf = currencyLevels(options.rules);
  const first = [...levelsOf.values()][0] as DemoLevels;
  const zones = first.quiet === undefined ? undefined : quietHoursZones(options.nowMs, first.quiet.hours);
  const notes = new Set<string>();
  const examples = new Map<DemoCase, number>();
  const accounts: DemoAccount[] = [];
  for (let index = 0; index < options.accounts; index += 1) {
    const random = seededRandom(`${options.seed}:account:${index}`);
    const currency = pickCurrency(random(), levelsOf);
    const levels = levelsOf.get(currency) as DemoLevels;
    const planned = deckCase(options.seed, index);
    const demoCase = feasibleCase(planned, levels, zones?.night, options.canPull);
    if (demoCase !== planned) notes.add(infeasibleNote(planned, demoCase));
    const shown = examples.get(demoCase) ?? 0;
    examples.set(demoCase, shown + 1);
    const context = { levels, nightZone: zones?.night, dayZone: zones?.day, nowMs: options.nowMs };
    accounts.push(
      planAccount(options.seed, index, demoCase, shown < EXAMPLES_PER_CASE, shown, random, context),
    );
  }
  return { accounts, zones, notes: [...notes] };
}

interface AccountContext {
  readonly levels: DemoLevels;
  readonly nightZone: TimeZone | undefined;
  readonly dayZone: TimeZone | undefined;
  readonly nowMs: number;
}

function planAccount(
  seed: string,
  index: number,
  demoCase: DemoCase,
  example: boolean,
  nthOfCase: number,
  random: () => number,
  context: AccountContext,
): DemoAccount {
  const { levels } = context;
  const crossed = crossedRule(demoCase, levels);
  const consents = { service: true, marketing: random() < 0.3 };
  if (crossed !== undefined) consents[crossed.messageClass] = true;
  const outcome =
    demoCase === "failedOrUndelivered"
      ? nthOfCase % 2 === 0
        ? "undelivered"
        : "failed"
      : example && DELIVERED_CASES.has(demoCase)
        ? "delivered"
        : undefined;
  return {
    accountId: `demo-${seed}-${String(index + 1).padStart(5, "0")}`,
    demoCase,
    opening: {
      customerId: `customer-${seed}-${index + 1}`,
      phone: phoneNumber(seed, index, levels.currency),
      currency: levels.currency,
      timeZone: zoneOf(demoCase, crossed, random(), context),
      consents,
    },
    outcome,
    steps: stepsOf(demoCase, crossed, random, context),
    example,
    sustainedRuleKey:
      crossed?.kind === "sustained-at-or-above" ? ruleKey(crossed.id, levels.currency) : undefined,
  };
}

/** The rule a case makes the account cross, if it crosses one. */
function crossedRule(demoCase: DemoCase, levels: DemoLevels): Rule | undefined {
  switch (demoCase) {
    case "neverCrossed":
    case "staleBalance":
      return undefined;
    case "overdrawn":
      return levels.deep;
    case "savingsOffer":
      return levels.sustained;
    case "deferredQuietHours":
      return levels.quiet?.rule;
    case "qualifiedDelivered":
    case "failedOrUndelivered":
    case "suppressedOptedOut":
    case "stoppedBySms":
    case "frequencyCapped":
    case "pulledFromBank":
      return levels.alert;
    default:
      return unreachable(demoCase);
  }
}

const ZONES_BY_CURRENCY: Readonly<Record<string, readonly string[]>> = {
  GBP: ["Europe/London"],
  EUR: ["Europe/Dublin", "Europe/Berlin", "Europe/Paris", "Europe/Madrid"],
  USD: ["America/New_York", "America/Chicago", "America/Los_Angeles"],
};

/** Night for the deferred case; day for any other that crosses a rule with quiet hours; else home. */
function zoneOf(
  demoCase: DemoCase,
  crossed: Rule | undefined,
  draw: number,
  context: AccountContext,
): string {
  if (demoCase === "deferredQuietHours" && context.nightZone !== undefined) return context.nightZone;
  if (crossed?.quietHours && context.dayZone !== undefined) return context.dayZone;
  const zones = ZONES_BY_CURRENCY[context.levels.currency] ?? ["UTC"];
  return zones[Math.floor(draw * zones.length)] ?? "UTC";
}

/** What a case stands in for when the rules or the system cannot show it. */
function feasibleCase(
  demoCase: DemoCase,
  levels: DemoLevels,
  nightZone: TimeZone | undefined,
  canPull: boolean,
): DemoCase {
  switch (demoCase) {
    case "overdrawn":
      return levels.deep === undefined ? "qualifiedDelivered" : demoCase;
    case "frequencyCapped":
      return levels.alert.cooldownHours === 0 ? "qualifiedDelivered" : demoCase;
    case "pulledFromBank":
      return canPull ? demoCase : "qualifiedDelivered";
    case "savingsOffer":
      return levels.sustained === undefined ? "neverCrossed" : demoCase;
    case "deferredQuietHours":
      return levels.quiet === undefined || nightZone === undefined ? "neverCrossed" : demoCase;
    case "neverCrossed":
    case "qualifiedDelivered":
    case "failedOrUndelivered":
    case "suppressedOptedOut":
    case "stoppedBySms":
    case "staleBalance":
      return demoCase;
    default:
      return unreachable(demoCase);
  }
}

function infeasibleNote(planned: DemoCase, instead: DemoCase): string {
  const why: Partial<Record<DemoCase, string>> = {
    overdrawn: "there is only one below rule",
    frequencyCapped: "the alert rule has no cooldown",
    pulledFromBank: "the Banking API simulator does not answer",
    savingsOffer: "no rule is of kind sustained-at-or-above",
    deferredQuietHours: "no rule has quiet hours, or no zone is at night now",
  };
  return `${planned}: ${why[planned] ?? "not possible"}; played as ${instead}`;
}

/** Every account's steps: a few days of healthy balances, then what its case does. */
function stepsOf(
  demoCase: DemoCase,
  crossed: Rule | undefined,
  random: () => number,
  context: AccountContext,
): DemoStep[] {
  const { levels, nowMs } = context;
  const at = (minutesAgo: number) => new Date(nowMs - minutesAgo * 60_000).toISOString();
  const push = (range: readonly [bigint, bigint], minutesAgo: number): DemoStep => ({
    kind: "push",
    amount: amountIn(range, random(), levels.currency),
    referenceTime: at(minutesAgo),
  });
  if (crossed?.kind === "sustained-at-or-above" && levels.savings !== undefined) {
    return sustainedHistory(crossed.days, levels.savings, push);
  }
  const history = healthyHistory(random, levels.healthy, push);
  switch (demoCase) {
    case "neverCrossed":
      return [...history, push(levels.healthy, 30)];
    case "overdrawn":
      return [...history, push(levels.overdrawn, 30)];
    case "suppressedOptedOut":
      return [
        ...history,
        { kind: "withdrawConsent", messageClass: levels.alert.messageClass },
        push(levels.low, 30),
      ];
    case "stoppedBySms":
      return [...history, { kind: "textStop" }, push(levels.low, 30)];
    case "frequencyCapped":
      return [
        ...history,
        push(levels.low, 30),
        { kind: "awaitSent", ruleId: levels.alert.id, episode: 1 },
        push(levels.healthy, 20),
        push(levels.low, 10),
      ];
    case "pulledFromBank":
      return [...history, { kind: "pull", amount: amountIn(levels.low, random(), levels.currency) }];
    case "staleBalance":
      // Pushed after the newest, dated before it: recorded as stale, and no rule looks at it.
      return [...history, push(levels.healthy, 30), push(levels.low, 2.5 * 24 * 60)];
    case "deferredQuietHours":
      return [...history, push(crossed === levels.alert ? levels.low : levels.overdrawn, 30)];
    case "qualifiedDelivered":
    case "failedOrUndelivered":
    case "savingsOffer": // only without a sustained rule, which makes it neverCrossed first
      return [...history, push(levels.low, 30)];
    default:
      return unreachable(demoCase);
  }
}

/**
 * Three to five balances on as many of the past six days (well inside the default 7-day bound on
 * a balance's age), each at some hour of its day, drifting around a level of the account's own.
 */
function healthyHistory(
  random: () => number,
  healthy: readonly [bigint, bigint],
  push: (range: readonly [bigint, bigint], minutesAgo: number) => DemoStep,
): DemoStep[] {
  const days = [6, 5, 4, 3, 2, 1];
  for (let last = days.length - 1; last > 0; last -= 1) {
    const other = Math.floor(random() * (last + 1));
    [days[last], days[other]] = [days[other] as number, days[last] as number];
  }
  const level = random();
  const [low, high] = healthy;
  const span = Number(high - low);
  return days
    .slice(0, 3 + Math.floor(random() * 3))
    .sort((a, b) => b - a)
    .map((day) => {
      const draw = Math.min(0.999, Math.max(0, level + (random() - 0.5) * 0.2));
      const amount = low + BigInt(Math.floor(draw * span));
      return push([amount, amount], day * 24 * 60 - Math.floor(random() * 600));
    });
}

/**
 * At or above the sustained threshold for a day longer than the rule asks: the oldest balances lie
 * beyond the default 7-day bound, so a system started with it refuses them (the account is then
 * still accruing), and one started with BALANCE_MAX_AGE_HOURS above the rule's days qualifies it.
 */
function sustainedHistory(
  days: number,
  savings: readonly [bigint, bigint],
  push: (range: readonly [bigint, bigint], minutesAgo: number) => DemoStep,
): DemoStep[] {
  const dayMinutes = 24 * 60;
  const ages = [days + 1, Math.ceil((days * 2) / 3), Math.ceil(days / 3), 3, 1].map(
    (day) => day * dayMinutes,
  );
  return [...[...new Set(ages)].sort((a, b) => b - a).map((age) => push(savings, age)), push(savings, 30)];
}

function currencyLevels(rules: readonly Rule[]): Map<Currency, DemoLevels> {
  const levels = new Map<Currency, DemoLevels>();
  for (const currency of ["GBP", "EUR", "USD"] as const) {
    try {
      levels.set(currency, demoLevels(rules, currency));
    } catch {
      // A currency the rules do not alert on: no demo accounts in it.
    }
  }
  if (levels.size === 0) return new Map([["GBP", demoLevels(rules, "GBP")]]); // throws, naming the need
  return levels;
}

/** 70% GBP, 20% EUR, 10% USD, among the currencies the rules alert on. */
function pickCurrency(draw: number, levels: ReadonlyMap<Currency, DemoLevels>): Currency {
  const wanted: Currency = draw < 0.7 ? "GBP" : draw < 0.9 ? "EUR" : "USD";
  return levels.has(wanted) ? wanted : ([...levels.keys()][0] as Currency);
}

/** The deck's case for account `index`: each cycle of 40 shuffled by the seed. */
function deckCase(seed: string, index: number): DemoCase {
  const cycle = Math.floor(index / CYCLE.length);
  const random = seededRandom(`${seed}:deck:${cycle}`);
  const order = [...CYCLE];
  for (let last = order.length - 1; last > 0; last -= 1) {
    const other = Math.floor(random() * (last + 1));
    [order[last], order[other]] = [order[other] as DemoCase, order[last] as DemoCase];
  }
  return order[index % CYCLE.length] as DemoCase;
}

const US_AREA_CODES = ["202", "212", "213", "305", "312", "415", "512", "617", "646", "718"];

/**
 * A valid mobile number of the currency's country, one per account: consecutive numbers from an
 * offset the seed chooses (a STOP withdraws consent on every account with the sender's number, so
 * two accounts never share one). Up to 100,000 accounts per seed.
 */
function phoneNumber(seed: string, index: number, currency: Currency): string {
  const offset = Number.parseInt(
    createHash("sha256").update(`${seed}:phones`).digest("hex").slice(0, 12),
    16,
  );
  if (currency === "EUR") return `+35385${String((offset + index) % 10_000_000).padStart(7, "0")}`;
  if (currency === "USD") {
    const serial = (offset + index) % 100_000;
    return `+1${US_AREA_CODES[serial % 10]}555${String(Math.floor(serial / 10)).padStart(4, "0")}`;
  }
  return `+4475${String((offset + index) % 100_000_000).padStart(8, "0")}`;
}

/** A generator of numbers in [0, 1) that depends only on `key` (mulberry32 seeded by SHA-256). */
export function seededRandom(key: string): () => number {
  let state = createHash("sha256").update(key).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}
