import { isDeepStrictEqual } from "node:util";
import test from "ava";
import fc from "fast-check";
import { stateFrom } from "../Decider.ts";
import { deciderSpecification } from "../deciderSpecification.ts";
import type { Rule } from "../rules/Rule.ts";
import type { CurrentBalanceType } from "../values/BalanceType.ts";
import type { CreditLine } from "../values/CreditLine.ts";
import { epochMsToInstant, type Instant } from "../values/Instant.ts";
import { parseMoney, type Currency, type Money } from "../values/Money.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { TimeZone } from "../values/TimeZone.ts";
import type { AccountCommand } from "./AccountCommand.ts";
import { accountDecider } from "./accountDecider.ts";
import type { AccountEvent } from "./AccountEvent.ts";

const money = (decimal: string, currency: Currency = "GBP"): Money => {
  const parsed = parseMoney(decimal, currency);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
};
const common = { cooldownHours: 24, quietHours: null, creditLines: "excluded" } as const;
const rules: Rule[] = [
  {
    ...common,
    id: "low-balance",
    version: 1,
    messageClass: "service",
    templateId: "low-balance",
    kind: "below",
    threshold: money("100.00"),
    rearmAbove: money("150.00"),
  },
  {
    ...common,
    id: "overdrawn",
    version: 1,
    messageClass: "service",
    templateId: "overdrawn",
    kind: "below",
    threshold: money("0.00"),
    rearmAbove: money("0.00"),
  },
  {
    ...common,
    id: "savings-offer",
    version: 1,
    messageClass: "marketing",
    templateId: "savings-offer",
    kind: "sustained-at-or-above",
    threshold: money("5000.00"),
    days: 30,
  },
  {
    ...common,
    id: "low-balance",
    version: 1,
    messageClass: "service",
    templateId: "low-balance",
    kind: "below",
    threshold: money("100.00", "EUR"),
    rearmAbove: money("150.00", "EUR"),
  },
];
const decider = accountDecider(rules);
const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const at = (minutes: number): Instant => epochMsToInstant(T0 + minutes * 60_000);
const DAY = 24 * 60;

const opened: AccountEvent = {
  type: "AccountOpened",
  data: {
    accountId: "acc-1",
    customerId: "cust-1",
    phone: "+447911123456",
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
    openedAt: at(0),
  },
};

function balance(
  decimal: string,
  minute: number,
  options: { currency?: Currency; bankReference?: string } = {},
): AccountCommand {
  return observe(money(decimal, options.currency), minute, options.bankReference);
}

function observe(
  amount: Money,
  minute: number,
  bankReference = `ref-${minute}`,
  extra: { balanceType?: CurrentBalanceType; creditLines?: CreditLine[]; now?: Instant } = {},
): AccountCommand {
  return {
    type: "RecordBalance",
    data: {
      balance: amount,
      balanceType: extra.balanceType ?? "InterimAvailable",
      creditLines: extra.creditLines ?? [],
      referenceTime: at(minute),
      source: "push",
      bankReference,
      now: extra.now ?? at(minute + 1),
    },
  };
}

const spec = deciderSpecification(decider);

const summary = (events: readonly AccountEvent[]) =>
  events.map((event) =>
    event.type === "AccountQualified" || event.type === "AccountDisqualified"
      ? `${event.type} ${event.data.ruleId} #${event.data.episode}`
      : event.type === "BalanceObserved" && event.data.stale
        ? "BalanceObserved (stale)"
        : event.type,
  );

test("given no account, when opening one, then AccountOpened with the data and time given", (t) => {
  const { data } = opened;
  spec(t)
    .given()
    .when({
      type: "OpenAccount",
      data: { ...data, phone: data.phone as PhoneNumber, timeZone: data.timeZone as TimeZone, now: at(0) },
    })
    .then([opened]);
});

test("given an open account, when opening it again, then refused: account_already_exists", (t) => {
  const { data } = opened;
  spec(t)
    .given(opened)
    .when({
      type: "OpenAccount",
      data: { ...data, phone: data.phone as PhoneNumber, timeZone: data.timeZone as TimeZone, now: at(5) },
    })
    .thenRefused("account_already_exists");
});

test("given no account, when anything but opening, then refused: account_not_found", (t) => {
  spec(t).given().when(balance("10.00", 1)).thenRefused("account_not_found");
  spec(t)
    .given()
    .when({ type: "CloseAccount", data: { reason: null, now: at(1) } })
    .thenRefused("account_not_found");
});

test("given a closed account, when recording a balance, then refused: account_closed; closing again changes nothing", (t) => {
  const closed: AccountEvent = { type: "AccountClosed", data: { reason: "customer left", closedAt: at(2) } };
  spec(t).given(opened, closed).when(balance("10.00", 3)).thenRefused("account_closed");
  spec(t)
    .given(opened, closed)
    .when({ type: "CloseAccount", data: { reason: null, now: at(4) } })
    .thenNothing();
});

test("given an account, when changing contact or consent, then an event only if something changes", (t) => {
  const phone = "+447911123457" as PhoneNumber;
  t.deepEqual(summary(spec.given(opened).whenAll([{ type: "ChangeContact", data: { phone, now: at(1) } }])), [
    "ContactChanged",
  ]);
  spec(t)
    .given(opened)
    .when({ type: "ChangeContact", data: { phone: "+447911123456" as PhoneNumber, now: at(1) } })
    .thenNothing();
  const grant: AccountCommand = {
    type: "ChangeConsent",
    data: { messageClass: "marketing", granted: true, source: "api", now: at(2) },
  };
  t.deepEqual(summary(spec.given(opened).whenAll([grant])), ["ConsentChanged"]);
  spec(t)
    .given(opened)
    .when({ ...grant, data: { ...grant.data, messageClass: "service" } })
    .thenNothing();
});

test("given an account, when a refresh is requested or fails, then the matching event", (t) => {
  t.deepEqual(
    summary(
      spec.given(opened).whenAll([
        { type: "RequestBalanceRefresh", data: { reason: "manual", now: at(1) } },
        {
          type: "RecordBalanceRefreshFailure",
          data: { reason: "bank timeout", retryable: true, now: at(2) },
        },
      ]),
    ),
    ["BalanceRefreshRequested", "BalanceRefreshFailed"],
  );
});

test("given a healthy balance, when it drops below 100.00, then low-balance qualifies once, episode 1", (t) => {
  t.deepEqual(summary(spec.given(opened).whenAll([balance("200.00", 10), balance("99.99", 20)])), [
    "BalanceObserved",
    "BalanceObserved",
    "AccountQualified low-balance #1",
  ]);
});

test("given low-balance qualified, when the balance hovers around 100.00, then no second alert until it passes 150.00", (t) => {
  t.deepEqual(
    summary(
      spec
        .given(opened)
        .whenAll([
          balance("99.00", 10),
          balance("120.00", 20),
          balance("98.00", 30),
          balance("150.00", 40),
          balance("97.00", 50),
        ]),
    ),
    [
      "BalanceObserved",
      "AccountQualified low-balance #1",
      "BalanceObserved",
      "BalanceObserved",
      "BalanceObserved",
      "BalanceObserved",
    ],
  );
  t.deepEqual(
    summary(spec.given(opened).whenAll([balance("99.00", 10), balance("150.01", 20), balance("99.00", 30)])),
    [
      "BalanceObserved",
      "AccountQualified low-balance #1",
      "BalanceObserved",
      "AccountDisqualified low-balance #1",
      "BalanceObserved",
      "AccountQualified low-balance #2",
    ],
  );
});

test("given a positive balance, when it goes negative, then low-balance and overdrawn both qualify", (t) => {
  t.deepEqual(summary(spec.given(opened).whenAll([balance("-0.01", 10)])), [
    "BalanceObserved",
    "AccountQualified low-balance #1",
    "AccountQualified overdrawn #1",
  ]);
});

test("given an observation, when an older one arrives, then it is recorded as stale and changes nothing", (t) => {
  t.deepEqual(summary(spec.given(opened).whenAll([balance("500.00", 30), balance("10.00", 20)])), [
    "BalanceObserved",
    "BalanceObserved (stale)",
  ]);
});

test("given an observation, when the same push is repeated, then nothing is appended", (t) => {
  const history = [opened, ...spec.given(opened).whenAll([balance("50.00", 10)])];
  spec(t)
    .given(...history)
    .when(balance("50.00", 10))
    .thenNothing();
});

test("given a GBP account, when a EUR balance arrives, then refused: currency_mismatch, and the EUR rule never moves", (t) => {
  spec(t)
    .given(opened)
    .when(balance("-5.00", 10, { currency: "EUR" }))
    .thenRefused("currency_mismatch");
  const line: CreditLine = { included: true, type: "Pre-Agreed", amount: money("100.00", "EUR") };
  spec(t)
    .given(opened)
    .when(observe(money("50.00"), 10, "r", { creditLines: [line] }))
    .thenRefused("currency_mismatch");
});

test("given an account, when a balance type that is not today's balance arrives, then refused: balance_type_not_current", (t) => {
  for (const type of ["ForwardAvailable", "Expected", "Information", "PreviouslyClosedBooked", "Foo"]) {
    const command = observe(money("5.00"), 10, "r", { balanceType: type as CurrentBalanceType });
    spec(t).given(opened).when(command).thenRefused("balance_type_not_current", type);
  }
  t.deepEqual(
    summary(spec.given(opened).whenAll([observe(money("5.00"), 10, "r", { balanceType: "ClosingBooked" })])),
    ["BalanceObserved", "AccountQualified low-balance #1"],
  );
});

test("given an account, when the reference time is far in the future or the past, then refused: reference_time_out_of_bounds", (t) => {
  const now = at(100);
  const pushedAt = (referenceTime: string): AccountCommand => ({
    type: "RecordBalance",
    data: {
      balance: money("500.00"),
      balanceType: "InterimAvailable",
      creditLines: [],
      referenceTime: referenceTime as Instant,
      source: "push",
      bankReference: "r",
      now,
    },
  });
  for (const referenceTime of ["9999-12-31T23:59:59.000Z", "0000-01-01T00:00:00.000Z"]) {
    spec(t).given(opened).when(pushedAt(referenceTime)).thenRefused("reference_time_out_of_bounds");
  }
  // The defaults: 5 minutes into the future, 7 days into the past, both ends included.
  const edges: [number, string][] = [
    [100 + 5, "accepted"],
    [100 + 5.001, "refused"],
    [100 - 7 * DAY, "accepted"],
    [100 - 7 * DAY - 0.001, "refused"],
  ];
  for (const [minute, outcome] of edges) {
    const { decision } = spec(t)
      .given(opened)
      .when(pushedAt(epochMsToInstant(T0 + minute * 60_000)));
    t.like(decision, { outcome }, `${minute}`);
  }
});

test("given bounds of the operator's choice, when a balance is recorded, then those bounds apply", (t) => {
  const strict = deciderSpecification(accountDecider(rules, { maxFutureSkewMs: 0, maxAgeMs: 60_000 }));
  const command = (minute: number) => observe(money("50.00"), minute, "r", { now: at(10) });
  strict(t).given(opened).when(command(10)).thenAccepted();
  strict(t).given(opened).when(command(10.01)).thenRefused("reference_time_out_of_bounds");
  strict(t).given(opened).when(command(9)).thenAccepted();
  strict(t).given(opened).when(command(8.99)).thenRefused("reference_time_out_of_bounds");
});

test("given two balances of one reference time, then the one of better precedence counts, whichever arrives first", (t) => {
  const booked = observe(money("40.00"), 10, "booked", { balanceType: "InterimBooked" });
  const available = observe(money("200.00"), 10, "available", { balanceType: "InterimAvailable" });
  // InterimAvailable (200.00) is today's balance: it wins arriving second, and first.
  t.deepEqual(summary(spec.given(opened).whenAll([booked, available])), [
    "BalanceObserved",
    "AccountQualified low-balance #1",
    "BalanceObserved",
    "AccountDisqualified low-balance #1",
  ]);
  t.deepEqual(summary(spec.given(opened).whenAll([available, booked])), [
    "BalanceObserved",
    "BalanceObserved (stale)",
  ]);
  // Of one precedence, the first stands: the same time says nothing about which is newer.
  const other = observe(money("40.00"), 10, "other", { balanceType: "InterimAvailable" });
  t.deepEqual(summary(spec.given(opened).whenAll([available, other])), [
    "BalanceObserved",
    "BalanceObserved (stale)",
  ]);
});

test("given an account silenced by a far-future balance in an old log, when a balance arrives, then it counts again", (t) => {
  const farFuture: AccountEvent = {
    type: "BalanceObserved",
    data: {
      balance: { minor: "50000", currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: "9999-12-31T23:59:59.000Z",
      observedAt: at(5),
      source: "push",
      bankReference: null,
      stale: false,
    },
  };
  t.deepEqual(summary(spec.given(opened, farFuture).whenAll([balance("42.00", 10)])), [
    "BalanceObserved",
    "AccountQualified low-balance #1",
  ]);
});

test("given an old log with EUR observations and qualifications on a GBP account, then they fold without touching the GBP rules", (t) => {
  const eurObserved: AccountEvent = {
    type: "BalanceObserved",
    data: {
      balance: { minor: "4200", currency: "EUR" },
      balanceType: "Foo",
      creditLineIncluded: false,
      referenceTime: at(20),
      observedAt: at(20),
      source: "push",
      bankReference: "eur",
      stale: false,
    },
  };
  const eurQualified: AccountEvent = {
    type: "AccountQualified",
    data: {
      ruleId: "low-balance",
      ruleVersion: 1,
      episode: 1,
      balance: { minor: "4200", currency: "EUR" },
      at: at(20),
    },
  };
  const history = [opened, eurObserved, eurQualified];
  // An EUR observation at minute 20 does not make a GBP one at minute 10 stale.
  t.deepEqual(summary(spec.given(...history).whenAll([balance("42.00", 10)])), [
    "BalanceObserved",
    "AccountQualified low-balance #1",
  ]);
});

test("given credit lines, when a rule excludes them (the default), then it compares the customer's own money", (t) => {
  const lines: CreditLine[] = [
    { included: true, type: "Pre-Agreed", amount: money("100.00") },
    { included: false, type: "Emergency", amount: money("500.00") },
    { included: true, type: "Temporary", amount: null },
  ];
  const events = spec.given(opened).whenAll([observe(money("150.00"), 10, "r", { creditLines: lines })]);
  t.deepEqual(summary(events), ["BalanceObserved", "AccountQualified low-balance #1"]);
  t.like(events[0], {
    data: {
      balance: { minor: "15000", currency: "GBP" },
      creditLineIncluded: true,
      creditLines: [
        { included: true, type: "Pre-Agreed", amount: { minor: "10000", currency: "GBP" } },
        { included: false, type: "Emergency", amount: { minor: "50000", currency: "GBP" } },
        { included: true, type: "Temporary", amount: null },
      ],
    },
  });
  // 150.00 less the 100.00 line it includes: 50.00 of the customer's own.
  t.like(events[1], { data: { balance: { minor: "5000", currency: "GBP" } } });
});

test("given credit lines, when a rule includes them, then it compares the balance plus the lines not yet in it", (t) => {
  const withCredit = deciderSpecification(
    accountDecider(
      rules.map((rule) => (rule.id === "overdrawn" ? { ...rule, creditLines: "included" as const } : rule)),
    ),
  );
  const lines: CreditLine[] = [{ included: false, type: "Pre-Agreed", amount: money("100.00") }];
  // low-balance (excluded) sees -20.00; overdrawn (included) sees 80.00 and stays quiet.
  const events = withCredit(t)
    .given(opened)
    .when(observe(money("-20.00"), 10, "r", { creditLines: lines }))
    .thenAccepted();
  t.deepEqual(summary(events), ["BalanceObserved", "AccountQualified low-balance #1"]);
  t.like(events[1], { data: { balance: { minor: "-2000" } } });
});

test("given an old BalanceObserved without credit lines, then it folds as having none", (t) => {
  const old: AccountEvent = {
    type: "BalanceObserved",
    data: {
      balance: { minor: "5000", currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: at(10),
      observedAt: at(10),
      source: "push",
      bankReference: "old",
      stale: false,
    },
  };
  t.deepEqual(summary(spec.given(opened, old).whenAll([balance("40.00", 5)])), ["BalanceObserved (stale)"]);
});

test("given 5,000.00 or more, when it has lasted 30 days, then savings-offer qualifies; a dip below resets the count", (t) => {
  t.deepEqual(
    summary(
      spec
        .given(opened)
        .whenAll([balance("5000.00", 0), balance("6000.00", 10 * DAY), balance("5000.00", 30 * DAY)]),
    ),
    ["BalanceObserved", "BalanceObserved", "BalanceObserved", "AccountQualified savings-offer #1"],
  );
  t.deepEqual(
    summary(
      spec
        .given(opened)
        .whenAll([
          balance("5000.00", 0),
          balance("4999.99", 10 * DAY),
          balance("5000.00", 11 * DAY),
          balance("5000.00", 31 * DAY),
        ]),
    ),
    ["BalanceObserved", "BalanceObserved", "BalanceObserved", "BalanceObserved"],
  );
});

test("property: whatever order and values balances arrive in, a rule qualifies at most once per episode", (t) => {
  const observation = fc.record({
    minor: fc.bigInt({ min: -20_000n, max: 800_000n }),
    minute: fc.integer({ min: 0, max: 90 * DAY }),
    currency: fc.constantFrom<Currency>("GBP"),
  });
  fc.assert(
    fc.property(fc.array(observation, { maxLength: 60 }), (observations) => {
      const commands = observations.map(({ minor, minute, currency }) =>
        observe({ minor, currency }, minute),
      );
      const events = spec.given(opened).whenAll(commands);
      const lastByRule = new Map<string, { type: string; episode: number }>();
      for (const event of events) {
        if (event.type !== "AccountQualified" && event.type !== "AccountDisqualified") continue;
        const key = `${event.data.ruleId}/${event.data.balance.currency}`;
        const last = lastByRule.get(key) ?? { type: "AccountDisqualified", episode: 0 };
        if (
          event.type === "AccountQualified" &&
          (last.type !== "AccountDisqualified" || event.data.episode !== last.episode + 1)
        )
          return false;
        if (
          event.type === "AccountDisqualified" &&
          (last.type !== "AccountQualified" || event.data.episode !== last.episode)
        )
          return false;
        lastByRule.set(key, { type: event.type, episode: event.data.episode });
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test("property: folding the very events it decided gives the state that folding them as read back from the log gives", (t) => {
  const observation = fc.record({
    minor: fc.bigInt({ min: -20_000n, max: 800_000n }),
    minute: fc.integer({ min: 0, max: 90 * DAY }),
    late: fc.integer({ min: 0, max: 3 * DAY }),
    balanceType: fc.constantFrom<CurrentBalanceType>("InterimAvailable", "ClosingBooked", "OpeningAvailable"),
    line: fc.option(fc.record({ minor: fc.bigInt({ min: 0n, max: 300_000n }), included: fc.boolean() })),
  });
  fc.assert(
    fc.property(fc.array(observation, { maxLength: 60 }), (observations) => {
      // A fresh decider each run: nothing it remembers from one run can reach another.
      const fresh = accountDecider(rules);
      let folded = fresh.evolve(fresh.initialState(), opened);
      let read = folded;
      for (const { minor, minute, late, balanceType, line } of observations) {
        const command = observe({ minor, currency: "GBP" }, minute, `ref-${minute}`, {
          balanceType,
          creditLines:
            line === null
              ? []
              : [
                  {
                    type: "Pre-Agreed",
                    amount: { minor: line.minor, currency: "GBP" },
                    included: line.included,
                  },
                ],
          now: at(minute + late),
        });
        const decision = fresh.decide(command, folded);
        if (decision.outcome === "refused") continue;
        for (const event of decision.events) {
          folded = fresh.evolve(folded, event);
          read = fresh.evolve(read, JSON.parse(JSON.stringify(event)) as AccountEvent);
        }
        if (!isDeepStrictEqual(folded, read)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

const keyword = (word: "stop" | "start", messageId: string, minute = 5): AccountCommand => ({
  type: "ApplySmsKeyword",
  data: { keyword: word, provider: "primary", messageId, now: at(minute) },
});
const consentChanges = (events: readonly AccountEvent[]) =>
  events.flatMap((event) =>
    event.type === "ConsentChanged"
      ? [
          `${event.data.messageClass} ${event.data.granted ? "on" : "off"} ${event.data.source} ${event.data.messageId ?? "-"}`,
        ]
      : event.type === "SmsKeywordReceived"
        ? [`received ${event.data.keyword} ${event.data.messageId}`]
        : [],
  );
const consentsAfter = (events: readonly AccountEvent[]) => {
  const state = stateFrom(decider, events);
  return state.status === "open" ? state.consents : undefined;
};

test("given an account opened with marketing off, when STOP then START arrive by SMS, then service is withdrawn and restored, marketing stays off", (t) => {
  const events = spec.given(opened).whenAll([keyword("stop", "SM1"), keyword("start", "SM2")]);
  t.deepEqual(consentChanges(events), [
    "received stop SM1",
    "service off sms-keyword SM1",
    "received start SM2",
    "service on sms-keyword SM2",
  ]);
  t.deepEqual(consentsAfter([opened, ...events]), { service: true, marketing: false });
});

test("given a STOP of both classes, when one is answered through the API, then START restores only the other", (t) => {
  const both: AccountEvent = {
    type: "AccountOpened",
    data: { ...opened.data, consents: { service: true, marketing: true } },
  };
  const noMarketing: AccountCommand = {
    type: "ChangeConsent",
    data: { messageClass: "marketing", granted: false, source: "api", now: at(6) },
  };
  const refused = spec.given(both).whenAll([keyword("stop", "SM1"), noMarketing, keyword("start", "SM2")]);
  t.deepEqual(
    consentChanges(refused),
    [
      "received stop SM1",
      "service off sms-keyword SM1",
      "marketing off sms-keyword SM1",
      "marketing off api -",
      "received start SM2",
      "service on sms-keyword SM2",
    ],
    "the customer's explicit no to marketing is recorded, though it changes no grant, and START leaves it",
  );
  t.deepEqual(consentsAfter([both, ...refused]), { service: true, marketing: false });

  const serviceBack: AccountCommand = {
    type: "ChangeConsent",
    data: { messageClass: "service", granted: true, source: "import", now: at(6) },
  };
  const regranted = spec.given(both).whenAll([keyword("stop", "SM1"), serviceBack, keyword("start", "SM2")]);
  t.deepEqual(consentChanges(regranted).slice(3), [
    "service on import -",
    "received start SM2",
    "marketing on sms-keyword SM2",
  ]);
});

test("given a handled inbound message, when it arrives again, then nothing changes: STOP, START, replayed STOP", (t) => {
  const history = [opened, ...spec.given(opened).whenAll([keyword("stop", "SM1"), keyword("start", "SM2")])];
  spec(t)
    .given(...history)
    .when(keyword("stop", "SM1", 30))
    .thenNothing();
  const stoppedAgain = [...history, ...spec.given(...history).whenAll([keyword("stop", "SM3", 40)])];
  spec(t)
    .given(...stoppedAgain)
    .when(keyword("start", "SM2", 50))
    .thenNothing();
  t.deepEqual(consentsAfter(stoppedAgain), { service: false, marketing: false });
});

test("given an inbound message that changed nothing, when it is replayed later, then it still changes nothing", (t) => {
  const idleStart = spec.given(opened).whenAll([keyword("start", "SM1")]);
  t.deepEqual(consentChanges(idleStart), ["received start SM1"], "remembered though it changed nothing");
  const history = [
    opened,
    ...idleStart,
    ...spec.given(opened, ...idleStart).whenAll([keyword("stop", "SM2")]),
  ];
  spec(t)
    .given(...history)
    .when(keyword("start", "SM1", 30))
    .thenNothing();
});

test("given one message id from two providers, when each arrives, then each is handled", (t) => {
  const stop = spec.given(opened).whenAll([keyword("stop", "SM1")]);
  const start: AccountCommand = {
    type: "ApplySmsKeyword",
    data: { keyword: "start", provider: "backup", messageId: "SM1", now: at(6) },
  };
  t.deepEqual(consentChanges(spec.given(opened, ...stop).whenAll([start])), [
    "received start SM1",
    "service on sms-keyword SM1",
  ]);
});

test("given a STOP recorded before message ids were kept, when START arrives, then what it withdrew is restored", (t) => {
  const oldStop: AccountEvent = {
    type: "ConsentChanged",
    data: { messageClass: "service", granted: false, source: "sms-keyword", at: at(1) },
  };
  t.deepEqual(consentChanges(spec.given(opened, oldStop).whenAll([keyword("start", "SM9")])), [
    "received start SM9",
    "service on sms-keyword SM9",
  ]);
});

test("given an account, when consent changes through the API, then the change carries no message id", (t) => {
  const [changed] = spec.given(opened).whenAll([
    {
      type: "ChangeConsent",
      data: { messageClass: "marketing", granted: true, source: "api", now: at(2) },
    },
  ]);
  t.like(changed, { type: "ConsentChanged", data: { source: "api", messageId: null } });
});
