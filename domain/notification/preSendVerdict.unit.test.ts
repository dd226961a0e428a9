import test from "ava";
import type { ExecutionContext } from "ava";
import type { AccountEvent } from "../account/AccountEvent.ts";
import { accountDecider } from "../account/accountDecider.ts";
import { stateFrom } from "../Decider.ts";
import type { QuietHours, Rule } from "../rules/Rule.ts";
import { parseInstant, type Instant } from "../values/Instant.ts";
import { parsePhoneNumber, type PhoneNumber } from "../values/PhoneNumber.ts";
import type { NotificationRequest } from "./NotificationState.ts";
import { frequencyCapWindow, preSendVerdict, type PreSendVerdict } from "./preSendVerdict.ts";

function at(text: string): Instant {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`bad instant in test: ${text}`);
  return instant;
}

const accountId = "acc-42";
// 12:00 in London (GMT in January): outside any evening quiet hours.
const NOON = at("2025-01-15T12:00:00.000Z");
// 22:30 in London: inside 21:00–08:00; they end at 08:00 the next morning.
const LATE_EVENING = at("2025-01-15T22:30:00.000Z");
const NEXT_MORNING = at("2025-01-16T08:00:00.000Z");
const EVENING: QuietHours = { start: "21:00", end: "08:00" };

function belowRule(id: string, overrides: Partial<Pick<Rule, "cooldownHours" | "quietHours">> = {}): Rule {
  return {
    id,
    version: 1,
    messageClass: "service",
    templateId: id,
    kind: "below",
    threshold: { minor: 10_000n, currency: "GBP" },
    rearmAbove: { minor: 15_000n, currency: "GBP" },
    cooldownHours: 24,
    quietHours: null,
    creditLines: "excluded",
    ...overrides,
  };
}

const lowBalance = belowRule("low-balance");
const quietLowBalance = belowRule("quiet-low-balance", { quietHours: EVENING });
const uncapped = belowRule("uncapped", { cooldownHours: 0 });
const rules = [lowBalance, quietLowBalance, uncapped];

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId,
    customerId: "c-42",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
    openedAt: "2025-01-01T09:00:00.000Z",
  },
};

function qualified(ruleId: string, episode: number): AccountEvent {
  return {
    type: "AccountQualified",
    data: {
      ruleId,
      ruleVersion: 1,
      episode,
      balance: { minor: "4200", currency: "GBP" },
      at: "2025-01-15T11:00:00.000Z",
    },
  };
}

function disqualified(ruleId: string, episode: number): AccountEvent {
  return {
    type: "AccountDisqualified",
    data: {
      ruleId,
      ruleVersion: 1,
      episode,
      balance: { minor: "16000", currency: "GBP" },
      at: "2025-01-15T11:15:00.000Z",
    },
  };
}

const serviceWithdrawn: AccountEvent = {
  type: "ConsentChanged",
  data: { messageClass: "service", granted: false, source: "sms-keyword", at: "2025-01-15T11:30:00.000Z" },
};

const closed: AccountEvent = {
  type: "AccountClosed",
  data: { reason: null, closedAt: "2025-01-15T11:30:00.000Z" },
};

function request(cause: { ruleId: string; episode: number } | undefined): NotificationRequest {
  return {
    notificationId: "n-1",
    accountId,
    messageClass: "service",
    ...(cause === undefined ? {} : { rule: cause }),
    templateId: "low-balance",
    variables: {},
    body: "Your balance is £42.00, below £100.00.",
    encoding: "UCS-2",
    segments: 1,
    recipient: parsePhoneNumber("+447911123456") as PhoneNumber,
    validUntil: at("2025-01-16T11:00:00.000Z"),
    requestedAt: at("2025-01-15T11:00:00.000Z"),
  };
}

/** `spec(t).given(...account events).when(request, { now, recentSends }).then(verdict)`. */
function spec(t: ExecutionContext) {
  return {
    given: (...history: AccountEvent[]) => ({
      when: (notification: NotificationRequest, facts: { now: Instant; recentSends?: number }) => ({
        then: (expected: PreSendVerdict) => {
          const account = stateFrom(accountDecider(rules), history);
          const verdict = preSendVerdict({
            request: notification,
            account,
            rules,
            recentSends: facts.recentSends ?? 0,
            now: facts.now,
          });
          t.deepEqual(verdict, expected);
        },
      }),
    }),
  };
}

test("a qualified rule's alert, with consent, outside quiet hours and under the cap, is sent", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 1))
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON })
    .then({ kind: "send" });
});

test("no consent for the message's class: suppressed as opted-out", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 1), serviceWithdrawn)
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON })
    .then({ kind: "suppress", reason: "opted-out" });
});

test("an account closed or never opened: suppressed as opted-out", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 1), closed)
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON })
    .then({ kind: "suppress", reason: "opted-out" });
  spec(t).given().when(request(undefined), { now: NOON }).then({ kind: "suppress", reason: "opted-out" });
});

test("the balance recovered since (the rule re-armed): suppressed as balance-recovered", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 1), disqualified("low-balance", 1))
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON })
    .then({ kind: "suppress", reason: "balance-recovered" });
});

test("a later episode of the rule qualified: the earlier episode's alert is suppressed as balance-recovered", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 2))
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON })
    .then({ kind: "suppress", reason: "balance-recovered" });
});

test("another SMS of the rule within its cooldown: suppressed by the frequency cap", (t) => {
  spec(t)
    .given(opened, qualified("low-balance", 1))
    .when(request({ ruleId: "low-balance", episode: 1 }), { now: NOON, recentSends: 1 })
    .then({ kind: "suppress", reason: "frequency-cap" });
});

test("a rule without a cooldown has no frequency cap", (t) => {
  spec(t)
    .given(opened, qualified("uncapped", 1))
    .when(request({ ruleId: "uncapped", episode: 1 }), { now: NOON, recentSends: 3 })
    .then({ kind: "send" });
});

test("inside the rule's quiet hours in the customer's zone: deferred to their end", (t) => {
  spec(t)
    .given(opened, qualified("quiet-low-balance", 1))
    .when(request({ ruleId: "quiet-low-balance", episode: 1 }), { now: LATE_EVENING })
    .then({ kind: "defer", until: NEXT_MORNING });
});

test("consent is checked before recovery, recovery before the cap, the cap before quiet hours", (t) => {
  spec(t)
    .given(opened, qualified("quiet-low-balance", 1), disqualified("quiet-low-balance", 1), serviceWithdrawn)
    .when(request({ ruleId: "quiet-low-balance", episode: 1 }), { now: LATE_EVENING, recentSends: 1 })
    .then({ kind: "suppress", reason: "opted-out" });
  spec(t)
    .given(opened, qualified("quiet-low-balance", 1), disqualified("quiet-low-balance", 1))
    .when(request({ ruleId: "quiet-low-balance", episode: 1 }), { now: LATE_EVENING, recentSends: 1 })
    .then({ kind: "suppress", reason: "balance-recovered" });
  spec(t)
    .given(opened, qualified("quiet-low-balance", 1))
    .when(request({ ruleId: "quiet-low-balance", episode: 1 }), { now: LATE_EVENING, recentSends: 1 })
    .then({ kind: "suppress", reason: "frequency-cap" });
});

test("a request under a rule no longer in the rule set checks consent only", (t) => {
  spec(t)
    .given(opened)
    .when(request({ ruleId: "retired-rule", episode: 1 }), { now: LATE_EVENING, recentSends: 5 })
    .then({ kind: "send" });
});

test("the frequency cap counts the rule's sends over its cooldown before now, and nothing without one", (t) => {
  const account = stateFrom(accountDecider(rules), [opened, qualified("low-balance", 1)]);
  t.deepEqual(frequencyCapWindow(request({ ruleId: "low-balance", episode: 1 }), account, rules, NOON), {
    ruleId: "low-balance",
    since: at("2025-01-14T12:00:00.000Z"),
  });
  t.is(frequencyCapWindow(request({ ruleId: "uncapped", episode: 1 }), account, rules, NOON), undefined);
  t.is(frequencyCapWindow(request(undefined), account, rules, NOON), undefined);
});
