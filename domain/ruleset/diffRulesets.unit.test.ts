import test from "ava";
import { diffRulesets } from "./diffRulesets.ts";
import type { RuleDefinition } from "./RulesetDocument.ts";

const lowBalance: RuleDefinition = {
  id: "low-balance",
  version: 1,
  kind: "below",
  messageClass: "service",
  templateId: "low-balance",
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
  thresholds: {
    GBP: { below: "100.00", rearmAbove: "150.00" },
    EUR: { below: "100.00", rearmAbove: "150.00" },
  },
};
const overdrawn: RuleDefinition = {
  ...lowBalance,
  id: "overdrawn",
  thresholds: { GBP: { below: "0.00", rearmAbove: "0.00" } },
};

test("a diff names each changed field by its path, and the rules added, removed and unchanged", (t) => {
  const raised: RuleDefinition = {
    ...lowBalance,
    version: 2,
    quietHours: { start: "21:00", end: "08:00" },
    thresholds: { GBP: { below: "200.00", rearmAbove: "250.00" } },
  };
  const veryLow: RuleDefinition = { ...overdrawn, id: "very-low" };
  const diff = diffRulesets(
    { version: 1, rules: [lowBalance, overdrawn] },
    { version: 1, rules: [raised, veryLow] },
  );
  t.deepEqual(
    diff.added.map((rule) => rule.id),
    ["very-low"],
  );
  t.deepEqual(
    diff.removed.map((rule) => rule.id),
    ["overdrawn"],
  );
  t.deepEqual(diff.unchanged, []);
  t.deepEqual(diff.changed, [
    {
      id: "low-balance",
      changes: [
        { path: "quietHours.end", from: null, to: "08:00" },
        { path: "quietHours.start", from: null, to: "21:00" },
        { path: "thresholds.EUR.below", from: "100.00", to: null },
        { path: "thresholds.EUR.rearmAbove", from: "150.00", to: null },
        { path: "thresholds.GBP.below", from: "100.00", to: "200.00" },
        { path: "thresholds.GBP.rearmAbove", from: "150.00", to: "250.00" },
        { path: "version", from: 1, to: 2 },
      ],
    },
  ]);
  t.deepEqual(
    diffRulesets({ version: 1, rules: [lowBalance] }, { version: 1, rules: [lowBalance] }).unchanged,
    ["low-balance"],
  );
});
