import { accepted, refused, type Decider, type Decision } from "../Decider.ts";
import type { Instant } from "../values/Instant.ts";
import { canonicalText, type RulesetDocument } from "./RulesetDocument.ts";
import type { RulesetEvent } from "./RulesetEvent.ts";

/** Publish a rule set, already validated at the edge (the same validation as the rules file). */
export interface PublishRuleset {
  readonly type: "PublishRuleset";
  readonly data: {
    readonly document: RulesetDocument;
    readonly publishedBy: string;
    readonly comment: string;
    readonly now: Instant;
  };
}

/** `rule_version_reused`: a rule changed but kept a version that already means something else. */
export type RulesetRefusal = "rule_version_reused";

/** The rule set's stream folded: the version in force and what every (rule, version) has meant. */
export interface RulesetState {
  /** 0 before the first version. */
  readonly version: number;
  readonly document: RulesetDocument | null;
  /** By `id@version`: the rule's canonical text and the rule set version that first published it. */
  readonly published: ReadonlyMap<string, { readonly text: string; readonly rulesetVersion: number }>;
}

/**
 * The rule set's decider. Publishing a document identical to the one in force appends nothing.
 * Otherwise every rule must keep the meaning its (id, version) has had in any earlier version, so
 * that the rule version recorded with each qualification names exactly one rule: a changed rule
 * needs a new version.
 */
export function rulesetDecider(): Decider<RulesetState, PublishRuleset, RulesetEvent, RulesetRefusal> {
  return {
    initialState: () => ({ version: 0, document: null, published: new Map() }),
    evolve: evolveRuleset,
    decide: decidePublish,
  };
}

function decidePublish(command: PublishRuleset, state: RulesetState): Decision<RulesetEvent, RulesetRefusal> {
  const { document, publishedBy, comment, now } = command.data;
  if (state.document !== null && canonicalText(state.document) === canonicalText(document)) return accepted();
  for (const rule of document.rules) {
    const earlier = state.published.get(`${rule.id}@${rule.version}`);
    if (earlier !== undefined && earlier.text !== canonicalText(rule)) {
      return refused(
        "rule_version_reused",
        `rule ${rule.id}: version ${rule.version} already means another rule (published in rule set version ${earlier.rulesetVersion}); a changed rule needs a higher version`,
      );
    }
  }
  return accepted({
    type: "RulesetPublished",
    data: { version: state.version + 1, document, publishedBy, comment, publishedAt: now },
  });
}

function evolveRuleset(state: RulesetState, event: RulesetEvent): RulesetState {
  const published = new Map(state.published);
  for (const rule of event.data.document.rules) {
    const key = `${rule.id}@${rule.version}`;
    if (!published.has(key))
      published.set(key, { text: canonicalText(rule), rulesetVersion: event.data.version });
  }
  return { version: event.data.version, document: event.data.document, published };
}
