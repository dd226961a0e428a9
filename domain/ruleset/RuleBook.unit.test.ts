import test from "ava";
import type { Rule } from "../rules/Rule.ts";
import type { Currency } from "../values/Money.ts";
import { ruleBookOf, ruleUnder } from "./RuleBook.ts";

const rule = (id: string, version: number, currency: Currency = "GBP", below = 10_000n): Rule => ({
  id,
  version,
  kind: "below",
  messageClass: "service",
  templateId: id,
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
  threshold: { minor: below, currency },
  rearmAbove: { minor: below + 5_000n, currency },
});

test("the first rule set always held; a later one's new or changed rules hold from its publication, unchanged ones keep theirs", (t) => {
  const book = ruleBookOf([
    { version: 1, publishedAtMs: 1_000, rules: [rule("low-balance", 1), rule("overdrawn", 1)] },
    {
      version: 2,
      publishedAtMs: 2_000,
      rules: [rule("low-balance", 2, "GBP", 20_000n), rule("overdrawn", 1)],
    },
    {
      version: 3,
      publishedAtMs: 3_000,
      rules: [rule("low-balance", 2, "GBP", 20_000n), rule("overdrawn", 1), rule("very-low", 1)],
    },
  ]);
  t.is(book.version, 3);
  t.deepEqual(
    book.inForce.map((r) => [r.id, r.version, r.inForceSinceMs]),
    [
      ["low-balance", 2, 2_000],
      ["overdrawn", 1, 0],
      ["very-low", 1, 3_000],
    ],
  );
});

test("a rule removed and published again holds from its return, not from its first publication", (t) => {
  const book = ruleBookOf([
    { version: 1, publishedAtMs: 1_000, rules: [rule("low-balance", 1)] },
    { version: 2, publishedAtMs: 2_000, rules: [] },
    { version: 3, publishedAtMs: 3_000, rules: [rule("low-balance", 1)] },
  ]);
  t.is(book.inForce[0]?.inForceSinceMs, 3_000);
});

test("a qualification's rule is found by its version, even one no longer in force; an unknown version falls back to the rule in force", (t) => {
  const book = ruleBookOf([
    { version: 1, publishedAtMs: 1_000, rules: [rule("low-balance", 1)] },
    { version: 2, publishedAtMs: 2_000, rules: [rule("low-balance", 2, "GBP", 20_000n)] },
  ]);
  t.is(ruleUnder(book, "low-balance", 1, "GBP")?.threshold.minor, 10_000n);
  t.is(ruleUnder(book, "low-balance", 2, "GBP")?.threshold.minor, 20_000n);
  t.is(ruleUnder(book, "low-balance", 7, "GBP")?.version, 2);
  t.is(ruleUnder(book, "low-balance", 1, "EUR"), undefined);
  t.is(ruleBookOf([]).version, 0);
});
