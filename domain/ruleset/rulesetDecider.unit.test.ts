import test from "ava";
import { deciderSpecification } from "../deciderSpecification.ts";
import type { Instant } from "../values/Instant.ts";
import type { RuleDefinition, RulesetDocument } from "./RulesetDocument.ts";
import type { RulesetEvent } from "./RulesetEvent.ts";
import { rulesetDecider, type PublishRuleset } from "./rulesetDecider.ts";

const lowBalance: RuleDefinition = {
  id: "low-balance",
  version: 1,
  kind: "below",
  messageClass: "service",
  templateId: "low-balance",
  cooldownHours: 24,
  quietHours: null,
  creditLines: "excluded",
  thresholds: { GBP: { below: "100.00", rearmAbove: "150.00" } },
};
const document = (...rules: RuleDefinition[]): RulesetDocument => ({ version: 1, rules });
const publish = (doc: RulesetDocument, now = "2026-12-06T22:00:00.000Z"): PublishRuleset => ({
  type: "PublishRuleset",
  data: { document: doc, publishedBy: "product-team", comment: "why", now: now as Instant },
});
const published = (version: number, doc: RulesetDocument, at = "2026-12-06T22:00:00.000Z"): RulesetEvent => ({
  type: "RulesetPublished",
  data: { version, document: doc, publishedBy: "product-team", comment: "why", publishedAt: at },
});
const spec = deciderSpecification(rulesetDecider());

test("given no rule set, when one is published, then it is version 1, with who published it, why and when", (t) => {
  spec(t)
    .given()
    .when(publish(document(lowBalance)))
    .then([published(1, document(lowBalance))]);
});

test("given version 1, when a changed rule with a higher version is published, then version 2", (t) => {
  const raised = {
    ...lowBalance,
    version: 2,
    thresholds: { GBP: { below: "200.00", rearmAbove: "250.00" } },
  };
  spec(t)
    .given(published(1, document(lowBalance)))
    .when(publish(document(raised), "2026-12-07T09:00:00.000Z"))
    .then([published(2, document(raised), "2026-12-07T09:00:00.000Z")]);
});

test("given version 1, when the same rule set is published again (keys in another order), then nothing is appended", (t) => {
  const reordered = Object.fromEntries(Object.entries(lowBalance).reverse()) as unknown as RuleDefinition;
  spec(t)
    .given(published(1, document(lowBalance)))
    .when(publish(document(reordered)))
    .thenNothing();
});

test("given a rule published as version 1, when it changes but keeps version 1, then refused naming the rule — even after it was removed in between", (t) => {
  const changed = { ...lowBalance, cooldownHours: 12 };
  const detail = spec(t)
    .given(published(1, document(lowBalance)))
    .when(publish(document(changed)))
    .thenRefused("rule_version_reused");
  t.regex(
    detail,
    /rule low-balance: version 1 already means another rule \(published in rule set version 1\)/,
  );
  spec(t)
    .given(published(1, document(lowBalance)), published(2, document()))
    .when(publish(document(changed)))
    .thenRefused("rule_version_reused");
  spec(t)
    .given(published(1, document(lowBalance)), published(2, document()))
    .when(publish(document(lowBalance)))
    .then([published(3, document(lowBalance))]);
});
