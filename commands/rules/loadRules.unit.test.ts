import test from "ava";
import { RulesFileError, loadRules, rulesFromDocument } from "./loadRules.ts";

test("the default rules file holds the three example rules for GBP, EUR and USD", async (t) => {
  const rules = await loadRules();
  t.deepEqual(
    rules.map((rule) => `${rule.id}/${rule.threshold.currency}`),
    [
      "low-balance/GBP",
      "low-balance/EUR",
      "low-balance/USD",
      "overdrawn/GBP",
      "overdrawn/EUR",
      "overdrawn/USD",
      "savings-offer/GBP",
      "savings-offer/EUR",
      "savings-offer/USD",
    ],
  );
  const lowBalance = rules[0];
  t.like(lowBalance, {
    kind: "below",
    threshold: { minor: 10_000n },
    rearmAbove: { minor: 15_000n },
    quietHours: null,
    creditLines: "excluded",
  });
  t.like(rules[6], {
    kind: "sustained-at-or-above",
    days: 30,
    messageClass: "marketing",
    quietHours: { start: "21:00", end: "08:00" },
  });
});

test("every problem is reported, each naming the rule and the field", (t) => {
  const error = t.throws(
    () =>
      rulesFromDocument("rules.yaml", {
        version: 1,
        rules: [
          {
            id: "low",
            version: 1,
            messageClass: "service",
            templateId: "t",
            kind: "below",
            thresholds: { GBP: { below: "1.005", rearmAbove: "2.00" } },
          },
          { id: "odd", version: 1, messageClass: "sms", templateId: "t", kind: "below", thresholds: {} },
          {
            id: "cur",
            version: 1,
            messageClass: "service",
            templateId: "t",
            kind: "below",
            thresholds: { XYZ: { below: "1", rearmAbove: "2" } },
          },
          {
            id: "hyst",
            version: 1,
            messageClass: "service",
            templateId: "t",
            kind: "below",
            thresholds: { EUR: { below: "5.00", rearmAbove: "1.00" } },
          },
        ],
      }),
    { instanceOf: RulesFileError },
  );
  t.is(error.problems.length, 4);
  t.is(error.problems[0], 'rule low: thresholds.GBP.below: GBP has 2 minor digits; "1.005" has 3');
  t.regex(error.problems[1] ?? "", /^rule odd: messageClass: /);
  t.is(
    error.problems[2],
    "rule cur: thresholds.XYZ: unknown currency (known: GBP, EUR, USD, CHF, SEK, NOK, DKK, PLN, JPY)",
  );
  t.is(error.problems[3], "rule hyst: thresholds.EUR.rearmAbove: must not be lower than below");
});

test("each rule says whether it compares the balance with or without credit lines; without unless it says", (t) => {
  const rule = (creditLines?: unknown) => ({
    id: "low",
    version: 1,
    messageClass: "service",
    templateId: "t",
    kind: "below",
    ...(creditLines === undefined ? {} : { creditLines }),
    thresholds: { GBP: { below: "100.00", rearmAbove: "150.00" } },
  });
  t.like(rulesFromDocument("r.yaml", { version: 1, rules: [rule()] })[0], { creditLines: "excluded" });
  t.like(rulesFromDocument("r.yaml", { version: 1, rules: [rule("included")] })[0], {
    creditLines: "included",
  });
  const error = t.throws(() => rulesFromDocument("r.yaml", { version: 1, rules: [rule("both")] }), {
    instanceOf: RulesFileError,
  });
  t.deepEqual(error.problems, ['rule low: creditLines: must be "excluded" or "included"']);
});

test("a file that is not YAML, or missing, is refused with its name", async (t) => {
  const missing = await t.throwsAsync(loadRules("/nonexistent/rules.yaml"), { instanceOf: RulesFileError });
  t.is(missing.message, "rules file /nonexistent/rules.yaml: cannot be read (ENOENT)");
});
