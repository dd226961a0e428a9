import test from "ava";
import { ruleBookFromRules } from "../ruleset/RuleBook.ts";
import type { AccountEvent } from "../account/AccountEvent.ts";
import { accountDecider } from "../account/accountDecider.ts";
import { stateFrom } from "../Decider.ts";
import { ruleNotificationId } from "./ruleNotificationId.ts";
import { notificationDecider } from "./notificationDecider.ts";
import type { Instant } from "../values/Instant.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import { ruleNotificationRequest, type QualifiedData } from "./ruleNotificationRequest.ts";

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId: "acc-1",
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
    openedAt: "2026-11-01T09:00:00.000Z",
  },
};
const qualified = (currency: "GBP" | "EUR", minor: string): QualifiedData => ({
  ruleId: "low-balance",
  ruleVersion: 1,
  episode: 1,
  balance: { minor, currency },
  at: "2026-11-01T10:00:00.000Z",
});

test("an old log's qualification in another currency is not announced; the account's own one is, under its (account, rule, episode) id, in its currency", async (t) => {
  const rules = await loadRules();
  const templates = await loadTemplates();
  const eur = qualified("EUR", "4200");
  const gbp = qualified("GBP", "4100");
  // Both episode 1 of low-balance: once, one id for both, and the GBP alert was dropped.
  const account = stateFrom(accountDecider(rules), [
    opened,
    { type: "AccountQualified", data: eur },
    { type: "AccountQualified", data: gbp },
  ]);
  const decide = (data: QualifiedData) =>
    ruleNotificationRequest({
      accountId: "acc-1",
      qualified: data,
      account,
      rules: ruleBookFromRules(rules),
      templates,
      now: "2026-11-01T10:00:01.000Z" as Instant,
      validForMs: 86_400_000,
    });
  t.like(decide(eur), { outcome: "skip" });
  const decision = decide(gbp);
  if (decision.outcome !== "request") return t.fail("the GBP qualification is announced");
  t.is(decision.command.data.notificationId, ruleNotificationId("acc-1", "low-balance", 1));
  const requested = notificationDecider.decide(decision.command, notificationDecider.initialState());
  t.like(requested, {
    outcome: "accepted",
    events: [{ data: { body: "Your balance is £41.00, below £100.00. Reply STOP to opt out." } }],
  });
});
