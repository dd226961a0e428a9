import test from "ava";
import type { Rule } from "../../domain/rules/Rule.ts";
import { DEFAULT_REFERENCE_TIME_BOUNDS } from "../../domain/values/ReferenceTimeBounds.ts";
import { describeRuleStates, type StoredTimelineEvent } from "./describeRuleStates.ts";

const GBP = (minor: bigint) => ({ minor, currency: "GBP" as const });
const common = {
  version: 1,
  templateId: "t",
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded" as const,
};
const RULES: Rule[] = [
  {
    ...common,
    id: "low",
    messageClass: "service",
    kind: "below",
    threshold: GBP(10_000n),
    rearmAbove: GBP(15_000n),
  },
  {
    ...common,
    id: "saver",
    messageClass: "marketing",
    kind: "sustained-at-or-above",
    threshold: GBP(500_000n),
    days: 30,
  },
  {
    ...common,
    id: "euro-only",
    messageClass: "service",
    kind: "below",
    threshold: { minor: 100n, currency: "EUR" },
    rearmAbove: { minor: 200n, currency: "EUR" },
  },
];

const opened: StoredTimelineEvent = {
  stream_id: "account-a",
  event_type: "AccountOpened",
  data: {
    accountId: "a",
    customerId: "c",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
    openedAt: "2026-11-01T00:00:00.000Z",
  },
};

function balance(amount: string, referenceTime: string): StoredTimelineEvent {
  return {
    stream_id: "account-a",
    event_type: "BalanceObserved",
    data: {
      balance: { minor: amount, currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime,
      observedAt: referenceTime,
      source: "push",
      bankReference: null,
      stale: false,
    },
  };
}

test("given a balance held at or above the saver threshold for 12 days, when described, then the saver rule is accruing 12 of 30 days", (t) => {
  const view = describeRuleStates("a", RULES, DEFAULT_REFERENCE_TIME_BOUNDS, [
    opened,
    balance("600000", "2026-11-01T00:00:00.000Z"),
    balance("610000", "2026-11-13T06:00:00.000Z"),
  ]);
  const saver = view.rules.find((rule) => rule.ruleId === "saver");
  t.like(saver, {
    state: "accruing",
    daysAccrued: 12,
    daysNeeded: 30,
    consented: false,
    since: "2026-11-01T00:00:00.000Z",
  });
  t.regex(
    saver?.explanation ?? "",
    /since 2026-11-01T00:00:00.000Z, for 12 of 30 days; the balance is 6100.00 GBP\. The customer does not consent to marketing/,
  );
  t.like(view.balance, { amount: "6100.00", balanceType: "InterimAvailable", source: "push" });
});

test("given a rule with no threshold in the account's currency, when described, then it is not applicable", (t) => {
  const view = describeRuleStates("a", RULES, DEFAULT_REFERENCE_TIME_BOUNDS, [opened]);
  t.like(
    view.rules.find((rule) => rule.ruleId === "euro-only"),
    {
      state: "not-applicable",
      explanation: "Not applicable: the rule is for balances in EUR; this account is in GBP.",
    },
  );
  t.is(view.balance, null);
  t.regex(view.rules.find((rule) => rule.ruleId === "low")?.explanation ?? "", /no balance has counted yet/);
});

test("given a qualification and its suppressed SMS, when described, then the rule fired, waits to re-arm, and says what became of the SMS", (t) => {
  const view = describeRuleStates("a", RULES, DEFAULT_REFERENCE_TIME_BOUNDS, [
    opened,
    balance("4000", "2026-11-02T00:00:00.000Z"),
    {
      stream_id: "account-a",
      event_type: "AccountQualified",
      data: {
        ruleId: "low",
        ruleVersion: 1,
        episode: 1,
        balance: { minor: "4000", currency: "GBP" },
        at: "2026-11-02T00:00:01.000Z",
      },
    },
    {
      stream_id: "notification-n1",
      event_type: "NotificationRequested",
      data: { rule: { ruleId: "low", episode: 1 } },
    },
    {
      stream_id: "notification-n1",
      event_type: "NotificationSuppressed",
      data: { reason: "frequency-cap", at: "2026-11-02T00:00:02.000Z" },
    },
  ]);
  const low = view.rules.find((rule) => rule.ruleId === "low");
  t.like(low, {
    state: "qualified",
    episode: 1,
    since: "2026-11-02T00:00:01.000Z",
    lastNotification: {
      notificationId: "n1",
      outcome: "suppressed",
      reason: "frequency-cap",
      at: "2026-11-02T00:00:02.000Z",
    },
  });
  t.regex(
    low?.explanation ?? "",
    /re-arm once the balance rises above 150.00 GBP; the balance is 40.00 GBP\. Its SMS: suppressed \(frequency-cap\)\./,
  );
});

test("given a closed account, when described, then no rule applies", (t) => {
  const view = describeRuleStates("a", RULES, DEFAULT_REFERENCE_TIME_BOUNDS, [
    opened,
    {
      stream_id: "account-a",
      event_type: "AccountClosed",
      data: { reason: null, closedAt: "2026-11-03T00:00:00.000Z" },
    },
  ]);
  t.like(view, { status: "closed", rules: [] });
});
