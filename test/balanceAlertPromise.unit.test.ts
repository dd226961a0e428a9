import test from "ava";
import { ruleBookFromRules } from "../domain/ruleset/RuleBook.ts";
import fc from "fast-check";
import { loadRules } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import { ruleNotificationRequest } from "../domain/notification/ruleNotificationRequest.ts";
import type { AccountEvent } from "../domain/account/AccountEvent.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import type { AccountState } from "../domain/account/AccountState.ts";
import { notificationDecider } from "../domain/notification/notificationDecider.ts";
import type { NotificationState } from "../domain/notification/NotificationState.ts";
import type { CreditLineChoice, Rule } from "../domain/rules/Rule.ts";
import type { CurrentBalanceType } from "../domain/values/BalanceType.ts";
import type { CreditLine } from "../domain/values/CreditLine.ts";
import { epochMsToInstant, type Instant } from "../domain/values/Instant.ts";
import type { Currency } from "../domain/values/Money.ts";

/*
 * The product's promise, as a property: over any history of pushes and pulls — out of order,
 * duplicated, far in the future or the past, in other currencies, of every balance type, with
 * credit lines, between refresh failures — an SMS is requested if and only if the account's
 * current balance crossed a rule, and its body states that balance.
 *
 * The system side is the real pure pipeline: the account decider, the qualification policy's
 * decision (`ruleNotificationRequest`), the notification decider that renders the template. The
 * other side is a reference model written here from the README's definitions, sharing no code
 * with them: which balance counts, the credit-line arithmetic, the shipped rules' thresholds and
 * hysteresis, and the money format of an SMS.
 *
 * `npm test` runs it with a fixed seed. To run it longer, or from another seed:
 *   PROPERTY_RUNS=20000 PROPERTY_SEED=$RANDOM npx ava test/balanceAlertPromise.unit.test.ts
 * A failure prints the seed and the shrunk history that breaks the promise.
 */

const SEED = Number(process.env.PROPERTY_SEED ?? 15_2026);
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const T0 = Date.UTC(2026, 10, 1, 9);
const MINUTE = 60_000;
const DAY = 86_400_000;

// ---- The reference model -------------------------------------------------------------------

// Today's balance types, best first: at one reference time the better one counts.
const TODAYS_TYPES = [
  "InterimAvailable",
  "InterimBooked",
  "InterimCleared",
  "ClosingAvailable",
  "ClosingBooked",
  "ClosingCleared",
  "OpeningAvailable",
  "OpeningBooked",
  "OpeningCleared",
];
const OTHER_TYPES = ["ForwardAvailable", "Expected", "Information", "PreviouslyClosedBooked"];

interface Push {
  readonly kind: "balance";
  readonly minor: bigint;
  readonly currency: Currency;
  readonly balanceType: string;
  readonly lines: readonly { included: boolean; minor: bigint | null; currency: Currency }[];
  /** Canonical UTC text, as the edge hands it to the domain. */
  readonly referenceTime: string;
  readonly source: "push" | "pull";
  readonly bankReference: string | null;
}
type Step =
  | { readonly gapMs: number; readonly what: Push }
  | { readonly gapMs: number; readonly what: { readonly kind: "repeat"; readonly back: number } }
  | { readonly gapMs: number; readonly what: { readonly kind: "refresh-failed" | "refresh-requested" } };

type Choices = Readonly<Record<"low-balance" | "overdrawn" | "savings-offer", CreditLineChoice>>;

/** "£1,234.50", "-£0.05": how a customer reads an amount (en-GB). */
function pounds(minor: bigint): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(3, "0");
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+$)/g, ",");
  return `${negative ? "-" : ""}£${whole}.${digits.slice(-2)}`;
}

/** The SMS bodies the promise asks for, in order, for pushes arriving at the given times. */
function expectedSms(arrivals: readonly { now: number; push: Push }[], choices: Choices): string[] {
  const sent: string[] = [];
  let last: { referenceMs: number; rank: number } | undefined;
  let lowQualified = false;
  let overdrawnQualified = false;
  let savingsSince: number | undefined;
  let savingsQualified = false;
  for (const { now, push } of arrivals) {
    const referenceMs = Date.parse(push.referenceTime);
    const counts =
      push.currency === "GBP" &&
      push.lines.every((line) => line.minor === null || line.currency === "GBP") &&
      TODAYS_TYPES.includes(push.balanceType) &&
      referenceMs <= now + 5 * MINUTE &&
      referenceMs >= now - 7 * DAY &&
      (last === undefined ||
        referenceMs > last.referenceMs ||
        (referenceMs === last.referenceMs && TODAYS_TYPES.indexOf(push.balanceType) < last.rank));
    if (!counts) continue;
    last = { referenceMs, rank: TODAYS_TYPES.indexOf(push.balanceType) };
    let own = push.minor;
    let spendable = push.minor;
    for (const line of push.lines) {
      if (line.minor === null) continue;
      if (line.included) own -= line.minor;
      else spendable += line.minor;
    }
    const seen = (rule: keyof Choices) => (choices[rule] === "excluded" ? own : spendable);

    const low = seen("low-balance");
    if (!lowQualified && low < 100_00n) {
      lowQualified = true;
      sent.push(`Your balance is ${pounds(low)}, below £100.00. Reply STOP to opt out.`);
    } else if (lowQualified && low > 150_00n) lowQualified = false;

    const overdrawn = seen("overdrawn");
    if (!overdrawnQualified && overdrawn < 0n) {
      overdrawnQualified = true;
      sent.push(`Your account is overdrawn: balance ${pounds(overdrawn)}. Reply STOP to opt out.`);
    } else if (overdrawnQualified && overdrawn > 0n) overdrawnQualified = false;

    if (seen("savings-offer") >= 5000_00n) {
      savingsSince ??= referenceMs;
      if (!savingsQualified && referenceMs - savingsSince >= 30 * DAY) {
        savingsQualified = true;
        sent.push(
          "You have kept over £5,000.00 for 30 days: ask us about our saver rates. Reply STOP to opt out.",
        );
      }
    } else {
      savingsSince = undefined;
      savingsQualified = false;
    }
  }
  return sent;
}

// ---- The system: the pure pipeline ---------------------------------------------------------

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId: "acc-1",
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: true },
    openedAt: epochMsToInstant(T0),
  },
};

function recordBalance(push: Push, now: Instant): AccountCommand {
  const creditLines: CreditLine[] = push.lines.map((line) => ({
    included: line.included,
    type: "Pre-Agreed",
    amount: line.minor === null ? null : { minor: line.minor, currency: line.currency },
  }));
  return {
    type: "RecordBalance",
    data: {
      balance: { minor: push.minor, currency: push.currency },
      // The edge and the bank client only hand today's types to the domain; the decider checks anyway.
      balanceType: push.balanceType as CurrentBalanceType,
      creditLines,
      referenceTime: push.referenceTime as Instant,
      source: push.source,
      bankReference: push.bankReference,
      now,
    },
  };
}

/** Every SMS body requested while the steps are decided, each qualification delivered twice. */
function requestedSms(
  steps: readonly Step[],
  rules: readonly Rule[],
  templates: Map<string, string>,
): { bodies: string[]; arrivals: { now: number; push: Push }[] } {
  const accounts = accountDecider(rules);
  let account: AccountState = accounts.evolve(accounts.initialState(), opened);
  const notifications = new Map<string, NotificationState>();
  const bodies: string[] = [];
  const arrivals: { now: number; push: Push }[] = [];
  let nowMs = T0;
  for (const [index, step] of steps.entries()) {
    nowMs += step.gapMs;
    const now = epochMsToInstant(nowMs);
    let command: AccountCommand;
    const what = step.what.kind === "repeat" ? repeated(steps, index, step.what.back) : step.what;
    if (what === undefined) continue;
    if (what.kind === "balance") {
      arrivals.push({ now: nowMs, push: what });
      command = recordBalance(what, now);
    } else if (what.kind === "refresh-failed") {
      command = { type: "RecordBalanceRefreshFailure", data: { reason: "timeout", retryable: true, now } };
    } else {
      command = { type: "RequestBalanceRefresh", data: { reason: "scheduled", now } };
    }
    const decision = accounts.decide(command, account);
    if (decision.outcome === "refused") continue;
    for (const event of decision.events) account = accounts.evolve(account, event);
    for (const event of decision.events) {
      if (event.type !== "AccountQualified") continue;
      for (let delivery = 0; delivery < 2; delivery += 1) {
        const request = ruleNotificationRequest({
          accountId: "acc-1",
          qualified: event.data,
          account,
          rules: ruleBookFromRules(rules),
          templates,
          now,
          validForMs: DAY,
        });
        if (request.outcome === "skip") throw new Error(`skipped: ${request.reason}`);
        const id = request.command.data.notificationId;
        const state = notifications.get(id) ?? notificationDecider.initialState();
        const requested = notificationDecider.decide(request.command, state);
        if (requested.outcome === "refused") throw new Error(`${requested.code}: ${requested.detail}`);
        let next = state;
        for (const notificationEvent of requested.events) {
          next = notificationDecider.evolve(next, notificationEvent);
          if (notificationEvent.type === "NotificationRequested") bodies.push(notificationEvent.data.body);
        }
        notifications.set(id, next);
      }
    }
  }
  return { bodies, arrivals };
}

/** The push `back` balance steps before `index` (a duplicate delivery), if there was one. */
function repeated(steps: readonly Step[], index: number, back: number): Push | undefined {
  const earlier = steps
    .slice(0, index)
    .map((step) => step.what)
    .filter((what): what is Push => what.kind === "balance");
  return earlier[earlier.length - 1 - (back % Math.max(earlier.length, 1))];
}

// ---- Histories -----------------------------------------------------------------------------

const amountNear = (centre: bigint) => fc.bigInt({ min: centre - 300n, max: centre + 300n });
const amounts = {
  // Across the low-balance and overdrawn thresholds, and anything.
  mixed: fc.oneof(
    amountNear(0n),
    amountNear(100_00n),
    amountNear(150_00n),
    amountNear(5000_00n),
    fc.bigInt({ min: -50_000_00n, max: 20_000_00n }),
  ),
  // Mostly at or above 5,000.00 with the odd dip: the savings rule's 30 days can pass.
  saver: fc.oneof(
    { weight: 12, arbitrary: fc.bigInt({ min: 5000_00n, max: 5400_00n }) },
    { weight: 1, arbitrary: amountNear(5000_00n) },
  ),
};
const currency = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Currency>("GBP") },
  { weight: 1, arbitrary: fc.constantFrom<Currency>("EUR", "USD", "JPY") },
);
const creditLine = fc.record({
  included: fc.boolean(),
  minor: fc.option(fc.oneof(fc.bigInt({ min: 0n, max: 200_00n }), fc.bigInt({ min: 0n, max: 10_000_00n }))),
  currency,
});

/** A reference time relative to the step's arrival: mostly plausible, sometimes absurd. */
const referenceOffset = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: -3 * DAY, max: 2 * MINUTE }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(5 * MINUTE, 5 * MINUTE + 1, -7 * DAY, -7 * DAY - 1, 40 * DAY, -40 * DAY),
  },
  { weight: 1, arbitrary: fc.constantFrom("9999-12-31T23:59:59.000Z", "0000-01-01T00:00:00.000Z") },
);

const push = (amount: fc.Arbitrary<bigint>) =>
  fc.record({
    minor: amount,
    currency,
    balanceType: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...TODAYS_TYPES) },
      { weight: 1, arbitrary: fc.constantFrom(...OTHER_TYPES) },
    ),
    lines: fc.array(creditLine, { maxLength: 3 }),
    offset: referenceOffset,
    source: fc.constantFrom<"push" | "pull">("push", "pull"),
    // Sometimes the reference time of an earlier push: another balance (type) of the same moment.
    sameTimeAs: fc.option(fc.nat(5), { freq: 4 }),
    bankReference: fc.option(fc.constantFrom("r1", "r2", "r3")),
  });

// Arrivals are hours to days apart, so that the 30-day savings rule can be reached too.
const gapMs = fc.oneof(fc.integer({ min: 0, max: 10 * MINUTE }), fc.integer({ min: 0, max: 3 * DAY }));

const step = (amount: fc.Arbitrary<bigint>) =>
  fc.record({
    gapMs,
    what: fc.oneof(
      { weight: 10, arbitrary: push(amount).map((value) => ({ kind: "balance" as const, ...value })) },
      { weight: 2, arbitrary: fc.nat(5).map((back) => ({ kind: "repeat" as const, back })) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          { kind: "refresh-failed" as const },
          { kind: "refresh-requested" as const },
        ),
      },
    ),
  });
// A third of the histories are a saver's: long enough, and rich enough, to reach 30 days.
const history = fc.oneof(
  { weight: 2, arbitrary: fc.array(step(amounts.mixed), { minLength: 1, maxLength: 60 }) },
  { weight: 1, arbitrary: fc.array(step(amounts.saver), { minLength: 30, maxLength: 60, size: "max" }) },
);

/** Fixes each push's reference time from its offset and the arrival time it lands at. */
function resolve(raw: readonly { gapMs: number; what: unknown }[]): Step[] {
  let nowMs = T0;
  const times: string[] = [];
  return raw.map(({ gapMs: gap, what }) => {
    nowMs += gap;
    const candidate = what as { kind: string };
    if (candidate.kind !== "balance") return { gapMs: gap, what } as Step;
    const { offset, sameTimeAs, ...rest } = candidate as Omit<Push, "referenceTime"> & {
      offset: number | string;
      sameTimeAs: number | null;
    };
    const earlier =
      sameTimeAs === null ? undefined : times[times.length - 1 - (sameTimeAs % Math.max(times.length, 1))];
    const referenceTime =
      earlier ?? (typeof offset === "string" ? offset : new Date(nowMs + offset).toISOString());
    times.push(referenceTime);
    return { gapMs: gap, what: { ...rest, referenceTime } };
  });
}

const choice = fc.constantFrom<CreditLineChoice>("excluded", "included");
const choices = fc.record({ "low-balance": choice, overdrawn: choice, "savings-offer": choice });

test("an SMS is requested if and only if the account's current balance crossed a rule, and it states that balance", async (t) => {
  const shipped = await loadRules();
  const templates = new Map(await loadTemplates());
  fc.assert(
    fc.property(choices, history, (chosen, raw) => {
      const rules = shipped.map((rule) => ({ ...rule, creditLines: chosen[rule.id as keyof Choices] }));
      const steps = resolve(raw);
      const { bodies, arrivals } = requestedSms(steps, rules, templates);
      const expected = expectedSms(arrivals, chosen);
      if (JSON.stringify(bodies) !== JSON.stringify(expected)) {
        throw new Error(`requested ${JSON.stringify(bodies)}\nexpected  ${JSON.stringify(expected)}`);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  t.pass(`${RUNS} histories from seed ${SEED}`);
});
