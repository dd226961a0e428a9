import type { Kysely } from "kysely";
import { formatMoney, isCurrency } from "../../domain/values/Money.ts";
import type { QualificationsTable, QualificationTables } from "./QualificationsTable.ts";

/** An amount as the query API answers it: a decimal string in the currency's minor digits. */
export interface MoneyView {
  readonly amount: string;
  readonly currency: string;
}

/** One qualification episode as the query API answers it. */
export interface QualificationView {
  readonly accountId: string;
  readonly ruleId: string;
  readonly ruleVersion: number;
  readonly episode: number;
  readonly status: "active" | "ended";
  readonly qualifiedAt: string;
  readonly qualifiedBalance: MoneyView;
  /** Null while active. */
  readonly endedAt: string | null;
  readonly endedBalance: MoneyView | null;
  /** Position of the `AccountQualified` event: what `after` takes to read the next page. */
  readonly position: string;
  readonly endedPosition: string | null;
}

/** Filters and keyset of {@link listQualifications}; every filter given must match. */
export interface QualificationFilter {
  readonly ruleId?: string;
  readonly status?: "active" | "ended";
  readonly accountId?: string;
  /** The `next` of the previous page: only episodes that qualified after this position. */
  readonly after?: string;
  /** Page size, at least 1. */
  readonly limit: number;
}

/** A page of episodes; `next` is set when there may be more (pass it as `after`). */
export interface QualificationPage {
  readonly items: readonly QualificationView[];
  readonly next: string | undefined;
}

/**
 * Qualification episodes in the order they began (their `AccountQualified` position), one page
 * at a time. `db` may be a transaction: the caller owns it.
 * @throws RangeError when `limit` is not a positive integer (the caller validates input first).
 */
export async function listQualifications(
  db: Kysely<QualificationTables>,
  schema: string,
  filter: QualificationFilter,
): Promise<QualificationPage> {
  if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${filter.limit}`);
  }
  let query = db.withSchema(schema).selectFrom("qualifications").selectAll();
  if (filter.ruleId !== undefined) query = query.where("rule_id", "=", filter.ruleId);
  if (filter.status !== undefined) query = query.where("status", "=", filter.status);
  if (filter.accountId !== undefined) query = query.where("account_id", "=", filter.accountId);
  if (filter.after !== undefined) query = query.where("qualified_position", ">", filter.after);
  // One more than a page tells whether another page follows.
  const rows = await query
    .orderBy("qualified_position")
    .limit(filter.limit + 1)
    .execute();
  const items = rows.slice(0, filter.limit).map(qualificationView);
  return { items, next: rows.length > filter.limit ? items.at(-1)?.position : undefined };
}

function qualificationView(row: QualificationsTable): QualificationView {
  return {
    accountId: row.account_id,
    ruleId: row.rule_id,
    ruleVersion: row.rule_version,
    episode: row.episode,
    status: row.status,
    qualifiedAt: row.qualified_at,
    qualifiedBalance: moneyView(row.qualified_balance_minor, row.currency),
    endedAt: row.ended_at,
    endedBalance: row.ended_balance_minor === null ? null : moneyView(row.ended_balance_minor, row.currency),
    position: row.qualified_position,
    endedPosition: row.ended_position,
  };
}

function moneyView(minor: string, currency: string): MoneyView {
  // Rows come from validated events, so an unknown currency means the read model is corrupt.
  if (!isCurrency(currency)) throw new Error(`qualification in unknown currency ${currency}`);
  return { amount: formatMoney({ minor: BigInt(minor), currency }), currency };
}
