/** One version of the rule set, as `GET /rules/versions` lists it. */
export interface RulesetVersionSummary {
  readonly version: number;
  readonly publishedAt: string;
  readonly publishedBy: string;
  readonly comment: string;
  readonly rules: readonly { readonly id: string; readonly version: number; readonly kind: string }[];
}
