import type { RulesetDocument } from "./RulesetDocument.ts";

/** The stream of the rule set's versions: one for the whole system. */
export const RULESET_STREAM = "ruleset";

/**
 * A version of the rule set took effect. `version` counts from 1 (the stream's revision + 1);
 * `publishedBy` is the API key's name (or `file:<path>` for a file imported at start-up or by the
 * CLI); `publishedAt` is when it took effect.
 */
export type RulesetEvent = {
  readonly type: "RulesetPublished";
  readonly data: {
    readonly version: number;
    readonly document: RulesetDocument;
    readonly publishedBy: string;
    readonly comment: string;
    readonly publishedAt: string;
  };
};
