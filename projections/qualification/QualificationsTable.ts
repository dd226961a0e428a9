/**
 * One row per qualification episode: an account qualified for a rule in one currency, and (once
 * the rule was re-armed) when that ended. Keyed by (account, rule, currency, episode), the same
 * key the account decider counts episodes by.
 */
export interface QualificationsTable {
  account_id: string;
  rule_id: string;
  currency: string;
  episode: number;
  status: "active" | "ended";
  /** The rule's version when the account qualified. */
  rule_version: number;
  qualified_at: string;
  /** The balance that qualified, minor units (bigint, as text). */
  qualified_balance_minor: string;
  /** Position of the `AccountQualified` event: unique, the keyset pagination key. */
  qualified_position: string;
  /** Null while active. */
  ended_at: string | null;
  /** The balance that re-armed the rule, minor units; null while active. */
  ended_balance_minor: string | null;
  /** Position of the `AccountDisqualified` event; null while active. */
  ended_position: string | null;
}

export interface QualificationTables {
  qualifications: QualificationsTable;
}
