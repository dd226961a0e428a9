import test from "ava";
import fc from "fast-check";
import type { AccountEvent } from "../account/AccountEvent.ts";
import { accountDecider } from "../account/accountDecider.ts";
import { stateFrom } from "../Decider.ts";
import type { Rule } from "../rules/Rule.ts";
import { parseInstant, type Instant } from "../values/Instant.ts";
import { parsePhoneNumber, type PhoneNumber } from "../values/PhoneNumber.ts";
import type { NotificationRequest } from "./NotificationState.ts";
import { restatement } from "./restatedVariables.ts";
import { displayMoney } from "./ruleNotificationRequest.ts";

const lowBalance: Rule = {
  id: "low-balance",
  version: 1,
  messageClass: "service",
  templateId: "low-balance",
  kind: "below",
  threshold: { minor: 10_000n, currency: "GBP" },
  rearmAbove: { minor: 15_000n, currency: "GBP" },
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
};
const withCreditLines: Rule = { ...lowBalance, id: "low-with-credit", creditLines: "included" };
const rules = [lowBalance, withCreditLines];

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId: "acc-1",
    customerId: "c-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
    openedAt: "2025-01-01T09:00:00.000Z",
  },
};

let minute = 0;
function observed(minor: bigint, creditLine?: bigint): AccountEvent {
  minute += 1;
  const at = new Date(Date.UTC(2025, 0, 15, 10, minute)).toISOString();
  return {
    type: "BalanceObserved",
    data: {
      balance: { minor: String(minor), currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      ...(creditLine === undefined
        ? {}
        : {
            creditLines: [
              { included: false, amount: { minor: String(creditLine), currency: "GBP" }, type: null },
            ],
          }),
      referenceTime: at,
      observedAt: at,
      source: "push",
      bankReference: null,
      stale: false,
    },
  };
}

function qualified(ruleId: string, minor: bigint): AccountEvent {
  return {
    type: "AccountQualified",
    data: {
      ruleId,
      ruleVersion: 1,
      episode: 1,
      balance: { minor: String(minor), currency: "GBP" },
      at: "2025-01-15T11:00:00.000Z",
    },
  };
}

const gbp = (minor: bigint) => displayMoney({ minor, currency: "GBP" });

function requestStating(minor: bigint, ruleId = "low-balance"): NotificationRequest {
  return {
    notificationId: "n-1",
    accountId: "acc-1",
    messageClass: "service",
    rule: { ruleId, episode: 1 },
    templateId: "low-balance",
    variables: { balance: gbp(minor), threshold: "£100.00" },
    body: `Your balance is ${gbp(minor)}, below £100.00.`,
    encoding: "GSM-7",
    segments: 1,
    recipient: parsePhoneNumber("+447911123456") as PhoneNumber,
    validUntil: parseInstant("2025-01-16T11:00:00.000Z") as Instant,
    requestedAt: parseInstant("2025-01-15T11:00:00.000Z") as Instant,
  };
}

const account = (...history: AccountEvent[]) => stateFrom(accountDecider(rules), [opened, ...history]);

test("given 50.00 alerted and the balance still 50.00: the alert goes as requested", (t) => {
  t.deepEqual(
    restatement(requestStating(5_000n), account(observed(5_000n), qualified("low-balance", 5_000n)), rules),
    {
      kind: "as-requested",
    },
  );
});

test("given 50.00 alerted and the balance now 3.00 (same episode): the alert states 3.00", (t) => {
  const now = account(observed(5_000n), qualified("low-balance", 5_000n), observed(300n));
  t.deepEqual(restatement(requestStating(5_000n), now, rules), {
    kind: "restate",
    variables: { balance: "£3.00", threshold: "£100.00" },
  });
});

test("given 50.00 alerted and the balance now 120.00 (the episode lasts until 150.00): 'below £100.00' is no longer true", (t) => {
  const now = account(observed(5_000n), qualified("low-balance", 5_000n), observed(12_000n));
  t.deepEqual(restatement(requestStating(5_000n), now, rules), { kind: "no-longer-true" });
});

test("a rule that counts credit lines states the balance with them, as it compared it", (t) => {
  // 50.00 plus a 20.00 credit line is 70.00 to this rule; then -10.00 plus 20.00 is 10.00.
  const now = account(
    observed(5_000n, 2_000n),
    qualified("low-with-credit", 7_000n),
    observed(-1_000n, 2_000n),
  );
  t.deepEqual(restatement(requestStating(7_000n, "low-with-credit"), now, rules), {
    kind: "restate",
    variables: { balance: "£10.00", threshold: "£100.00" },
  });
});

test("a request stating no balance, or under a rule no longer in force, is as requested", (t) => {
  const now = account(observed(5_000n), qualified("low-balance", 5_000n), observed(300n));
  const noBalance = { ...requestStating(5_000n), variables: { name: "Ann" } };
  t.deepEqual(restatement(noBalance, now, rules), { kind: "as-requested" });
  t.deepEqual(restatement(requestStating(5_000n, "retired-rule"), now, rules), { kind: "as-requested" });
});

test("property: an alert that goes states the balance the account has, as its rule compares it; one that would state a crossing no longer true does not go", (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: -100_000n, max: 9_999n }),
      fc.bigInt({ min: -100_000n, max: 100_000n }),
      (stated, current) => {
        const now = account(observed(stated), qualified("low-balance", stated), observed(current));
        const result = restatement(requestStating(stated), now, rules);
        if (current >= 10_000n) return result.kind === "no-longer-true";
        const says =
          result.kind === "restate" ? result.variables.balance : requestStating(stated).variables.balance;
        return result.kind !== "no-longer-true" && says === gbp(current);
      },
    ),
  );
  t.pass();
});

test("a rule published since with another threshold: the alert states that threshold, and the balance as it is", (t) => {
  const raised: Rule = {
    ...lowBalance,
    version: 2,
    threshold: { minor: 20_000n, currency: "GBP" },
    rearmAbove: { minor: 25_000n, currency: "GBP" },
  };
  const now = account(observed(5_000n), qualified("low-balance", 5_000n), observed(15_000n));
  t.deepEqual(restatement(requestStating(5_000n), now, [raised]), {
    kind: "restate",
    variables: { balance: "£150.00", threshold: "£200.00" },
  });
  t.deepEqual(
    restatement(requestStating(5_000n), now, rules),
    { kind: "no-longer-true" },
    "under the old one, not below £100",
  );
});
