/**
 * `reporting_qualified_counts`: how many `AccountQualified` events each rule had per UTC day of
 * their `at`, keyed (day, rule_id). Qualification has no message class or provider, hence a table
 * of its own; the funnel report joins it by day and rule.
 */
export interface QualifiedCountsTable {
  day: string;
  rule_id: string;
  qualified: number;
}
