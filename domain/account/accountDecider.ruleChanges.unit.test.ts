import test from "ava";
import fc from "fast-check";
import { deciderSpecification } from "../deciderSpecification.ts";
import type { Rule } from "../rules/Rule.ts";
import { epochMsToInstant, type Instant } from "../values/Instant.ts";
import { parseMoney, type Money } from "../values/Money.ts";
import type { AccountCommand } from "./AccountCommand.ts";
import { accountDecider } from "./accountDecider.ts";
import type { AccountEvent } from "./AccountEvent.ts";

// What a new version of the rules does to accounts already watched (issue: rules as events).
// Version 1 always held; version 2 took effect at minute 100.

const money = (decimal: string): Money => {
  const parsed = parseMoney(decimal, "GBP");
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
};
const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const at = (minutes: number): Instant => epochMsToInstant(T0 + minutes * 60_000);
const PUBLISHED = 100;
const DAY = 24 * 60;

const base = {
  messageClass: "service",
  templateId: "low-balance",
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
} as const;
const below = (
  id: string,
  version: number,
  threshold: string,
  rearmAbove: string,
  sinceMinute?: number,
): Rule => ({
  ...base,
  id,
  version,
  kind: "below",
  threshold: money(threshold),
  rearmAbove: money(rearmAbove),
  ...(sinceMinute === undefined ? {} : { inForceSinceMs: T0 + sinceMinute * 60_000 }),
});
const sustained = (version: number, sinceMinute?: number): Rule => ({
  ...base,
  id: "savings-offer",
  version,
  messageClass: "marketing",
  templateId: "savings-offer",
  kind: "sustained-at-or-above",
  threshold: money("5000.00"),
  days: 30,
  ...(sinceMinute === undefined ? {} : { inForceSinceMs: T0 + sinceMinute * 60_000 }),
});

const v1 = deciderSpecification(accountDecider([below("low-balance", 1, "100.00", "150.00")]));
const raised = deciderSpecification(accountDecider([below("low-balance", 2, "200.00", "250.00", PUBLISHED)]));

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId: "acc-1",
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: true },
    openedAt: at(0),
  },
};

function balance(decimal: string, minute: number, observedMinute = minute + 1): AccountCommand {
  return {
    type: "RecordBalance",
    data: {
      balance: money(decimal),
      balanceType: "InterimAvailable",
      creditLines: [],
      referenceTime: at(minute),
      source: "push",
      bankReference: `ref-${minute}`,
      now: at(observedMinute),
    },
  };
}

const qualifications = (events: readonly AccountEvent[]) =>
  events.flatMap((event) =>
    event.type === "AccountQualified" || event.type === "AccountDisqualified"
      ? [`${event.type} ${event.data.ruleId} v${event.data.ruleVersion} #${event.data.episode}`]
      : [],
  );

test("given 150.00 watched under a 100.00 threshold, when the threshold is raised to 200.00, then no alert for a balance already under it; one after it has risen above the new re-arm level and fallen again", (t) => {
  const before = v1.given(opened).whenAll([balance("150.00", 10)]);
  const after = raised
    .given(opened, ...before)
    .whenAll([
      balance("150.00", 110),
      balance("160.00", 120),
      balance("120.00", 130),
      balance("260.00", 140),
    ]);
  t.deepEqual(qualifications(after), [], "held: what already held when the rule changed never fires");
  const fired = raised.given(opened, ...before, ...after).whenAll([balance("190.00", 150)]);
  t.deepEqual(qualifications(fired), ["AccountQualified low-balance v2 #1"]);
});

test("given 300.00 watched under a 100.00 threshold, when the threshold is raised to 200.00, then a balance that crosses it after the change fires", (t) => {
  const before = v1.given(opened).whenAll([balance("300.00", 10)]);
  t.deepEqual(qualifications(raised.given(opened, ...before).whenAll([balance("180.00", 110)])), [
    "AccountQualified low-balance v2 #1",
  ]);
});

test("given an active episode, when the threshold moves, then no second alert for it; above the new re-arm level the episode ends", (t) => {
  const before = v1.given(opened).whenAll([balance("200.00", 10), balance("60.00", 20)]);
  t.deepEqual(qualifications(before), ["AccountQualified low-balance v1 #1"]);
  const lowered = deciderSpecification(
    accountDecider([below("low-balance", 2, "50.00", "80.00", PUBLISHED)]),
  );
  t.deepEqual(qualifications(lowered.given(opened, ...before).whenAll([balance("70.00", 110)])), []);
  t.deepEqual(qualifications(lowered.given(opened, ...before).whenAll([balance("40.00", 110)])), []);
  t.deepEqual(qualifications(lowered.given(opened, ...before).whenAll([balance("90.00", 110)])), [
    "AccountDisqualified low-balance v2 #1",
  ]);
  t.deepEqual(
    qualifications(lowered.given(opened, ...before).whenAll([balance("90.00", 110), balance("40.00", 120)])),
    ["AccountDisqualified low-balance v2 #1", "AccountQualified low-balance v2 #2"],
  );
  const endedBefore = v1.given(opened).whenAll([balance("200.00", 10), balance("90.00", 20)]);
  t.deepEqual(
    qualifications(lowered.given(opened, ...endedBefore).whenAll([balance("40.00", 110)])),
    ["AccountDisqualified low-balance v2 #1", "AccountQualified low-balance v2 #2"],
    "90.00 before the change was already above the new re-arm level: the episode ends, and 40.00 is a new crossing",
  );
});

test("given an account at 10.00, when a rule for balances below 20.00 is added, then it stays silent until the balance has risen above its re-arm level and fallen again", (t) => {
  const before = v1
    .given(opened)
    .whenAll([balance("200.00", 10), balance("90.00", 20), balance("10.00", 30)]);
  const added = deciderSpecification(
    accountDecider([
      below("low-balance", 1, "100.00", "150.00"),
      below("very-low", 1, "20.00", "50.00", PUBLISHED),
    ]),
  );
  const after = added.given(opened, ...before).whenAll([balance("10.00", 110), balance("5.00", 120)]);
  t.deepEqual(qualifications(after), []);
  const later = added
    .given(opened, ...before, ...after)
    .whenAll([balance("60.00", 130), balance("15.00", 140)]);
  t.deepEqual(qualifications(later), ["AccountQualified very-low v1 #1"]);
});

test("given an account with no balance before the rule took effect, when its first balance is under the threshold, then it alerts as for any new account", (t) => {
  t.deepEqual(qualifications(raised.given(opened).whenAll([balance("150.00", 110)])), [
    "AccountQualified low-balance v2 #1",
  ]);
});

test("given a balance observed before the new version took effect (a writer's clock behind), when decided under it, then the new version does not judge it", (t) => {
  const before = v1.given(opened).whenAll([balance("300.00", 10)]);
  raised(t)
    .given(opened, ...before)
    .when(balance("150.00", 50, 60))
    .then([
      {
        type: "BalanceObserved",
        data: {
          balance: { minor: "15000", currency: "GBP" },
          balanceType: "InterimAvailable",
          creditLineIncluded: false,
          creditLines: [],
          referenceTime: at(50),
          observedAt: at(60),
          source: "push",
          bankReference: "ref-50",
          stale: false,
        },
      },
    ]);
});

test("given a rule removed, when the balance crosses its threshold, then nothing fires for it", (t) => {
  const before = v1.given(opened).whenAll([balance("200.00", 10)]);
  const removed = deciderSpecification(accountDecider([]));
  t.deepEqual(qualifications(removed.given(opened, ...before).whenAll([balance("10.00", 110)])), []);
});

test("given a balance above 5,000.00 for months, when a sustained rule is added, then the days count from the first balance it sees: it fires 30 days later, not at once", (t) => {
  const v0 = deciderSpecification(accountDecider([]));
  const before = v0.given(opened).whenAll([balance("6000.00", 10), balance("6000.00", 60 * DAY)]);
  const withOffer = deciderSpecification(accountDecider([sustained(1, 61 * DAY)]));
  const after = withOffer
    .given(opened, ...before)
    .whenAll([balance("6000.00", 62 * DAY), balance("6000.00", 91 * DAY)]);
  t.deepEqual(qualifications(after), [], "29 days under the rule");
  t.deepEqual(
    qualifications(withOffer.given(opened, ...before, ...after).whenAll([balance("6000.00", 92 * DAY)])),
    ["AccountQualified savings-offer v1 #1"],
  );
});

test("property: a rule that took effect when the last balance was already under it sends nothing while the balance stays under; it fires once the balance has risen above the re-arm level and fallen under again", (t) => {
  const amount = (low: number, high: number) =>
    fc.integer({ min: low, max: high }).map((minor) => (minor / 100).toFixed(2));
  fc.assert(
    fc.property(
      fc.array(amount(-50_000, 50_000), { maxLength: 7 }),
      amount(-50_000, 19_999),
      fc.array(amount(-50_000, 19_999), { minLength: 1, maxLength: 8 }),
      (earlier, lastBeforeTheChange, stayingUnder) => {
        const history = [...earlier, lastBeforeTheChange];
        const before = v1.given(opened).whenAll(history.map((decimal, index) => balance(decimal, 1 + index)));
        const after = raised
          .given(opened, ...before)
          .whenAll(stayingUnder.map((decimal, index) => balance(decimal, PUBLISHED + 1 + index)));
        if (after.some((event) => event.type === "AccountQualified")) return false;
        const next = PUBLISHED + 1 + stayingUnder.length;
        const crossing = raised
          .given(opened, ...before, ...after)
          .whenAll([balance("250.01", next), balance("199.99", next + 1)]);
        return crossing.filter((event) => event.type === "AccountQualified").length === 1;
      },
    ),
  );
  t.pass();
});
