import test from "ava";
import fc from "fast-check";
import { explainTimelineEntry, visibleData } from "./explainTimelineEntry.ts";
import { timelineProjection } from "./timelineProjection.ts";

const TYPES = [...timelineProjection.eventTypes, "SomethingNew"];

test("given any data (old, partial or malformed events), every type is explained without throwing", (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...TYPES),
      fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })),
      fc.boolean(),
      (type, data, showPii) => {
        const line = explainTimelineEntry({ type, data }, showPii);
        return typeof line === "string" && line.length > 0;
      },
    ),
  );
  t.pass();
});

test("given a request's recipient and body, without pii:read the explanation masks the one and leaves out the other", (t) => {
  const event = {
    type: "NotificationRequested",
    data: {
      messageClass: "service",
      rule: { ruleId: "low-balance", episode: 2 },
      segments: 1,
      recipient: "+447911123456",
      body: "Your balance is £42.10",
    },
  };
  t.is(
    explainTimelineEntry(event, false),
    "Service SMS requested for rule low-balance (episode 2), 1 segment to +44•••••••456.",
  );
  t.is(
    explainTimelineEntry(event, true),
    'Service SMS requested for rule low-balance (episode 2), 1 segment to +447911123456: "Your balance is £42.10".',
  );
  t.deepEqual(visibleData(event.data, false), { ...event.data, recipient: "+44•••••••456", body: null });
});

test("given a stale balance, the explanation says it was recorded but not counted", (t) => {
  const line = explainTimelineEntry(
    {
      type: "BalanceObserved",
      data: {
        balance: { minor: "4510", currency: "GBP" },
        balanceType: "InterimAvailable",
        creditLineIncluded: false,
        referenceTime: "2026-11-24T08:02:00.000Z",
        source: "push",
        stale: true,
      },
    },
    false,
  );
  t.is(
    line,
    "Balance 45.10 GBP (InterimAvailable), pushed by core banking, bank time 2026-11-24T08:02:00.000Z: recorded but not counted, since it is not newer than the balance already counted.",
  );
});

test("given a malformed amount, the explanation says so instead of inventing one", (t) => {
  const line = explainTimelineEntry(
    {
      type: "AccountQualified",
      data: { ruleId: "r", ruleVersion: 1, episode: 1, balance: { minor: "1e9", currency: "GBP" } },
    },
    false,
  );
  t.regex(line, /an unknown amount/);
});

test("an attempt restated with the balance as it now is: the amount and the body only with pii:read", (t) => {
  const data = {
    attempt: 1,
    provider: "primary",
    at: "2026-01-15T10:00:00.000Z",
    restated: {
      variables: { balance: "£3.00" },
      body: "Your balance is £3.00",
      encoding: "GSM-7",
      segments: 1,
    },
  };
  const event = { type: "SmsSubmissionStarted", data };
  t.is(
    explainTimelineEntry(event, true),
    "Attempt 1: handing the SMS to primary, restated with the balance as it now is (£3.00).",
  );
  t.is(
    explainTimelineEntry(event, false),
    "Attempt 1: handing the SMS to primary, restated with the balance as it now is.",
  );
  t.is(visibleData(data, false)["restated"], null);
  t.deepEqual(visibleData(data, true)["restated"], data.restated);
});
