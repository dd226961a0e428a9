import test from "ava";
import fc from "fast-check";
import type { AccountEvent } from "../account/AccountEvent.ts";
import type { Rule } from "../rules/Rule.ts";
import { parseMoney, type Money } from "../values/Money.ts";
import { BacktestReplay, type LoggedEvent } from "./BacktestReplay.ts";
import { mergeBacktestResults, type Funnel } from "./BacktestResult.ts";

const money = (decimal: string): Money => {
  const parsed = parseMoney(decimal, "GBP");
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
};
const candidate: Rule = {
  id: "low-balance",
  version: 2,
  kind: "below",
  messageClass: "service",
  templateId: "low-balance",
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
  threshold: money("200.00"),
  rearmAbove: money("250.00"),
};
const templates = new Map([["low-balance", "Your balance is {{balance}}, below {{threshold}}."]]);

const account = (id: string, type: AccountEvent["type"], data: Record<string, unknown>): LoggedEvent => ({
  streamId: `account-${id}`,
  type,
  data,
});
const opened = (id: string, service: boolean) =>
  account(id, "AccountOpened", {
    accountId: id,
    customerId: `c-${id}`,
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service, marketing: false },
    openedAt: "2026-11-01T08:00:00.000Z",
  });
const balance = (id: string, amount: string, at: string) =>
  account(id, "BalanceObserved", {
    balance: { minor: String(Math.round(Number(amount) * 100)), currency: "GBP" },
    balanceType: "InterimAvailable",
    creditLineIncluded: false,
    creditLines: [],
    referenceTime: at,
    observedAt: at,
    source: "push",
    bankReference: `${id}-${at}`,
    stale: false,
  });
// What the rules in force (below 100.00) actually did: b qualified, and its SMS was suppressed.
const actual: LoggedEvent[] = [
  account("b", "AccountQualified", {
    ruleId: "low-balance",
    ruleVersion: 1,
    episode: 1,
    balance: { minor: "5000", currency: "GBP" },
    at: "2026-11-01T12:00:00.000Z",
  }),
  {
    streamId: "notification-n-b",
    type: "NotificationRequested",
    data: {
      accountId: "b",
      rule: { ruleId: "low-balance", episode: 1 },
      requestedAt: "2026-11-01T12:00:01.000Z",
    },
  },
  {
    streamId: "notification-n-b",
    type: "NotificationSuppressed",
    data: { reason: "opted-out", at: "2026-11-01T12:00:02.000Z" },
  },
];

const funnel = (counts: Partial<Funnel>): Funnel => ({
  qualified: 0,
  requested: 0,
  suppressed: {},
  deferred: 0,
  sent: 0,
  ...counts,
});

test("given a scripted history, the backtest of a 200.00 threshold counts, per day, what it would have done beside what the 100.00 rule did (hand-computed)", (t) => {
  const replay = new BacktestReplay({
    rules: [candidate],
    templates,
    fromMs: Date.parse("2026-11-01T00:00:00Z"),
    toMs: Date.parse("2026-11-03T00:00:00Z"),
  });
  const log: LoggedEvent[] = [
    opened("a", true),
    opened("b", false),
    balance("a", "300.00", "2026-11-01T09:00:00.000Z"),
    balance("a", "150.00", "2026-11-01T10:00:00.000Z"), // candidate: qualifies, sent
    balance("b", "300.00", "2026-11-01T11:00:00.000Z"),
    balance("b", "50.00", "2026-11-01T12:00:00.000Z"), // both qualify; no consent: suppressed
    ...actual,
    balance("a", "260.00", "2026-11-02T09:00:00.000Z"), // candidate re-arms (above 250.00)
    balance("a", "190.00", "2026-11-02T09:30:00.000Z"), // qualifies again within 24 h: frequency cap
    balance("a", "180.00", "2026-11-03T09:00:00.000Z"), // after the window: not counted
  ];
  for (const event of log) replay.apply(event);
  const result = replay.result();
  t.is(result.balancesReplayed, 7);
  t.is(result.balancesInWindow, 6);
  t.deepEqual(result.rows, [
    {
      day: "2026-11-01",
      ruleId: "low-balance",
      candidate: funnel({ qualified: 2, requested: 2, suppressed: { "opted-out": 1 }, sent: 1 }),
      actual: funnel({ qualified: 1, requested: 1, suppressed: { "opted-out": 1 } }),
    },
    {
      day: "2026-11-02",
      ruleId: "low-balance",
      candidate: funnel({ qualified: 1, requested: 1, suppressed: { "frequency-cap": 1 } }),
      actual: funnel({}),
    },
  ]);
  t.deepEqual(
    result.gains.map((change) => [change.accountId, change.ruleId, change.candidate?.at]),
    [["a", "low-balance", "2026-11-01T10:00:00.000Z"]],
  );
  t.deepEqual(result.losses, []);
});

const night: Rule = { ...candidate, quietHours: { start: "21:00", end: "08:00" } };

/** The candidate with quiet hours from 21:00 to 08:00, replayed over `log` (1 and 2 November counted). */
function replayedOverNight(log: readonly LoggedEvent[]): BacktestReplay {
  const replay = new BacktestReplay({
    rules: [night],
    templates,
    fromMs: Date.parse("2026-11-01T00:00:00Z"),
    toMs: Date.parse("2026-11-03T00:00:00Z"),
  });
  for (const event of log) replay.apply(event);
  return replay;
}

test("quiet hours defer a candidate's SMS to their end, where it is checked again: a balance recovered meanwhile suppresses it", (t) => {
  const replay = replayedOverNight([
    opened("a", true),
    opened("c", true),
    balance("a", "300.00", "2026-11-01T20:00:00.000Z"),
    balance("a", "150.00", "2026-11-01T22:00:00.000Z"), // deferred to 08:00
    balance("a", "400.00", "2026-11-02T07:00:00.000Z"), // recovered before 08:00
    balance("c", "300.00", "2026-11-01T20:00:00.000Z"),
    balance("c", "150.00", "2026-11-01T23:00:00.000Z"), // deferred; still low at 08:00
    balance("c", "140.00", "2026-11-02T09:00:00.000Z"),
  ]);
  t.deepEqual(
    replay.result().rows[0]?.candidate,
    funnel({
      qualified: 2,
      requested: 2,
      deferred: 2,
      suppressed: { "balance-recovered": 1 },
      sent: 1,
    }),
  );
  // A deferral whose quiet hours end after the log's last balance is still waiting: not sent.
  const waiting = replayedOverNight([
    opened("a", true),
    balance("a", "300.00", "2026-11-01T20:00:00.000Z"),
    balance("a", "150.00", "2026-11-01T22:00:00.000Z"),
  ]);
  t.deepEqual(waiting.result().rows[0]?.candidate, funnel({ qualified: 1, requested: 1, deferred: 1 }));
});

const consent = (id: string, granted: boolean, at: string) =>
  account(id, "ConsentChanged", { messageClass: "service", granted, source: "api", messageId: null, at });

test("a deferred SMS is checked at the end of quiet hours in the account's state then: a consent withdrawn before the end stops it, one withdrawn after does not", (t) => {
  const replayWith = (withdrawnAt: string) =>
    replayedOverNight([
      opened("a", true),
      balance("a", "300.00", "2026-11-01T20:00:00.000Z"),
      balance("a", "150.00", "2026-11-01T22:00:00.000Z"), // deferred to 08:00 (London, GMT)
      consent("a", false, withdrawnAt),
      balance("a", "140.00", "2026-11-02T10:00:00.000Z"),
    ]).result().rows[0]?.candidate;
  t.deepEqual(
    replayWith("2026-11-02T07:30:00.000Z"),
    funnel({ qualified: 1, requested: 1, deferred: 1, suppressed: { "opted-out": 1 } }),
  );
  t.deepEqual(
    replayWith("2026-11-02T08:30:00.000Z"),
    funnel({ qualified: 1, requested: 1, deferred: 1, sent: 1 }),
  );
});

/** A scripted history of a few accounts: balances, consent changes, recorded qualifications, interleaved. */
const history = fc
  .array(
    fc.record({
      account: fc.constantFrom("a", "b", "c", "d", "e"),
      kind: fc.constantFrom("balance", "balance", "balance", "consent", "qualified"),
      amount: fc.integer({ min: 0, max: 40_000 }),
      granted: fc.boolean(),
      minutes: fc.integer({ min: 0, max: 3 * 24 * 60 }),
    }),
    { maxLength: 80 },
  )
  .map((steps) => {
    const start = Date.parse("2026-11-01T00:00:00Z");
    const at = (minutes: number) => new Date(start + minutes * 60_000).toISOString();
    const ordered = [...steps].sort((a, b) => a.minutes - b.minutes);
    return [
      ...["a", "b", "c", "d", "e"].map((id) => opened(id, id !== "e")),
      ...ordered.map((step) => {
        const when = at(step.minutes);
        if (step.kind === "consent") return consent(step.account, step.granted, when);
        if (step.kind === "qualified")
          return account(step.account, "AccountQualified", {
            ruleId: "low-balance",
            ruleVersion: 1,
            episode: 1,
            balance: { minor: "5000", currency: "GBP" },
            at: when,
          });
        return balance(step.account, (step.amount / 100).toFixed(2), when);
      }),
    ];
  });

test("property: a log replayed in parts, each part whole accounts, and merged gives exactly what one replay gives", (t) => {
  const nightly: Rule = { ...night, cooldownHours: 2 };
  const options = {
    rules: [nightly],
    templates,
    fromMs: Date.parse("2026-11-01T06:00:00Z"),
    toMs: Date.parse("2026-11-03T12:00:00Z"),
    sampleSize: 3,
  };
  fc.assert(
    fc.property(history, fc.func(fc.integer({ min: 0, max: 2 })), (log, partOf) => {
      const whole = new BacktestReplay(options);
      for (const event of log) whole.apply(event);
      const parts = [0, 1, 2].map(() => new BacktestReplay(options));
      for (const event of log) parts[partOf(event.streamId)]?.apply(event);
      const endMs = Math.max(...parts.map((part) => part.latestBalanceMs));
      const merged = mergeBacktestResults(
        parts.map((part) => part.result(endMs)),
        options.sampleSize,
      );
      t.deepEqual(merged, whole.result());
    }),
  );
});
