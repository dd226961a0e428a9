import { sql, type Kysely, type RawBuilder } from "kysely";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import type { FunnelCounter } from "./FunnelCountsTable.ts";
import { FUNNEL_COUNTERS } from "./FunnelCountsTable.ts";
import type { ReportingTables } from "./ReportingTables.ts";

/** Days are UTC dates "YYYY-MM-DD", both ends included; the caller validates the format. */
export interface DayRange {
  readonly from: string;
  readonly to: string;
}

export interface FunnelReportFilter extends DayRange {
  readonly ruleId?: string | undefined;
  /** Leaves out the days that only have qualifications (they have no message class). */
  readonly messageClass?: MessageClass | undefined;
}

export interface ProviderReportFilter extends DayRange {
  readonly provider?: string | undefined;
}

/** The counts every report row carries from submission on. */
interface OutcomeCounts {
  readonly submitted: number;
  readonly delivered: number;
  readonly undelivered: number;
  readonly rejected: number;
  readonly failed: number;
  readonly expired: number;
  readonly unknown: number;
}

/** What every report row derives from its outcomes. */
interface DeliveryMeasures {
  /** delivered / submitted; null when nothing was submitted. */
  readonly deliveryRate: number | null;
  /** Requested→delivered latency percentiles, whole ms; null when nothing was delivered. */
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
}

/**
 * One day of one rule's funnel for one message class, summed over providers. The notifications
 * counted are those requested that day (their cohort), whatever day later stages happened;
 * `qualified` counts the rule's qualifications that day. `ruleId` is '' for notifications no rule
 * caused; `messageClass` is '' on a day a rule qualified accounts but requested nothing.
 */
export interface FunnelReportRow extends OutcomeCounts, DeliveryMeasures {
  readonly day: string;
  readonly ruleId: string;
  readonly messageClass: MessageClass | "";
  readonly qualified: number;
  readonly requested: number;
  readonly suppressedOptedOut: number;
  readonly suppressedFrequencyCap: number;
  readonly suppressedDuplicate: number;
  readonly suppressedBalanceRecovered: number;
  readonly suppressedStaleBalance: number;
  readonly deferred: number;
  /** Cancelled by us before sending, or by the provider after accepting. */
  readonly cancelled: number;
}

/**
 * One day of one provider: what it accepted and how that ended, for the notifications requested
 * that day. `failed` also counts attempts it refused for good (never `submitted`); `cancelled`
 * counts only cancellations it reported after accepting.
 */
export interface ProviderReportRow extends OutcomeCounts, DeliveryMeasures {
  readonly day: string;
  readonly provider: string;
  readonly cancelled: number;
}

/** The funnel report's fields in CSV column order. */
export const FUNNEL_COLUMNS = [
  "day",
  "ruleId",
  "messageClass",
  "qualified",
  "requested",
  "suppressedOptedOut",
  "suppressedFrequencyCap",
  "suppressedDuplicate",
  "suppressedBalanceRecovered",
  "suppressedStaleBalance",
  "deferred",
  "cancelled",
  "submitted",
  "delivered",
  "undelivered",
  "rejected",
  "failed",
  "expired",
  "unknown",
  "deliveryRate",
  "latencyP50Ms",
  "latencyP95Ms",
] as const satisfies readonly (keyof FunnelReportRow)[];

/** The provider report's fields in CSV column order. */
export const PROVIDER_COLUMNS = [
  "day",
  "provider",
  "submitted",
  "delivered",
  "undelivered",
  "rejected",
  "failed",
  "expired",
  "unknown",
  "cancelled",
  "deliveryRate",
  "latencyP50Ms",
  "latencyP95Ms",
] as const satisfies readonly (keyof ProviderReportRow)[];

const PROVIDER_COUNTERS = [
  "submitted",
  "delivered",
  "undelivered",
  "rejected",
  "failed",
  "expired",
  "unknown",
  "cancelled",
] as const satisfies readonly FunnelCounter[];

type ProviderCounter = (typeof PROVIDER_COUNTERS)[number];

interface Latencies {
  readonly latency_p50_ms: number | null;
  readonly latency_p95_ms: number | null;
}

type FunnelQueryRow = {
  readonly day: string;
  readonly rule_id: string;
  readonly message_class: MessageClass | "";
  readonly qualified: number;
} & Readonly<Record<FunnelCounter, number>> &
  Latencies;

type ProviderQueryRow = { readonly day: string; readonly provider: string } & Readonly<
  Record<ProviderCounter, number>
> &
  Latencies;

/**
 * The daily funnel per rule and message class over `from`..`to`, ordered by day, rule and class.
 * `db` may be a transaction; `schema` holds the reporting tables (or the read schema's views).
 */
export async function funnelReport(
  db: Kysely<ReportingTables>,
  schema: string,
  filter: FunnelReportFilter,
): Promise<FunnelReportRow[]> {
  const { ruleId, messageClass } = filter;
  const cohorts = sql.join(
    [
      sql`day between ${filter.from} and ${filter.to}`,
      ...(ruleId === undefined ? [] : [sql`rule_id = ${ruleId}`]),
      ...(messageClass === undefined ? [] : [sql`message_class = ${messageClass}`]),
    ],
    sql` and `,
  );
  const qualifications = sql.join(
    [
      sql`day between ${filter.from} and ${filter.to}`,
      ...(ruleId === undefined ? [] : [sql`rule_id = ${ruleId}`]),
    ],
    sql` and `,
  );
  // With a class filter, days with only qualifications (no class) are left out.
  const joinQualified = messageClass === undefined ? sql`full join` : sql`left join`;
  const result = await sql<FunnelQueryRow>`
    with funnel as (
      select day, rule_id, message_class, ${sums(FUNNEL_COUNTERS)}
      from ${sql.table(`${schema}.reporting_funnel_counts`)}
      where ${cohorts}
      group by day, rule_id, message_class
    ), latency as (
      select day, rule_id, message_class, ${percentiles()}
      from ${sql.table(`${schema}.reporting_delivery_latencies`)}
      where ${cohorts}
      group by day, rule_id, message_class
    ), qualifications as (
      select day, rule_id, qualified
      from ${sql.table(`${schema}.reporting_qualified_counts`)}
      where ${qualifications}
    )
    -- Keys sort in byte order (collate "C"), whatever the database's collation: every server alike.
    select
      day,
      rule_id collate "C" as rule_id,
      coalesce(message_class, '') collate "C" as message_class,
      coalesce(qualified, 0) as qualified,
      ${sql.join(FUNNEL_COUNTERS.map((counter) => sql`coalesce(${sql.ref(counter)}, 0) as ${sql.ref(counter)}`))},
      latency_p50_ms,
      latency_p95_ms
    from funnel
    ${joinQualified} qualifications using (day, rule_id)
    left join latency using (day, rule_id, message_class)
    order by day, rule_id, message_class
  `.execute(db);
  return result.rows.map((row) => ({
    day: row.day,
    ruleId: row.rule_id,
    messageClass: row.message_class,
    qualified: row.qualified,
    requested: row.requested,
    suppressedOptedOut: row.suppressed_opted_out,
    suppressedFrequencyCap: row.suppressed_frequency_cap,
    suppressedDuplicate: row.suppressed_duplicate,
    suppressedBalanceRecovered: row.suppressed_balance_recovered,
    suppressedStaleBalance: row.suppressed_stale_balance,
    deferred: row.deferred,
    cancelled: row.cancelled,
    ...outcomeCounts(row),
    ...deliveryMeasures(row),
  }));
}

/**
 * Per day and provider over `from`..`to` (only notifications a provider had: provider ≠ ''),
 * ordered by day and provider. `db` may be a transaction.
 */
export async function providerReport(
  db: Kysely<ReportingTables>,
  schema: string,
  filter: ProviderReportFilter,
): Promise<ProviderReportRow[]> {
  const where = sql.join(
    [
      sql`day between ${filter.from} and ${filter.to}`,
      filter.provider === undefined ? sql`provider <> ''` : sql`provider = ${filter.provider}`,
    ],
    sql` and `,
  );
  const result = await sql<ProviderQueryRow>`
    with counts as (
      select day, provider, ${sums(PROVIDER_COUNTERS)}
      from ${sql.table(`${schema}.reporting_funnel_counts`)}
      where ${where}
      group by day, provider
    ), latency as (
      select day, provider, ${percentiles()}
      from ${sql.table(`${schema}.reporting_delivery_latencies`)}
      where ${where}
      group by day, provider
    )
    select day, provider collate "C" as provider, ${sql.join(PROVIDER_COUNTERS.map((counter) => sql.ref(counter)))},
      latency_p50_ms, latency_p95_ms
    from counts
    left join latency using (day, provider)
    order by day, provider
  `.execute(db);
  return result.rows.map((row) => ({
    day: row.day,
    provider: row.provider,
    ...outcomeCounts(row),
    cancelled: row.cancelled,
    ...deliveryMeasures(row),
  }));
}

function outcomeCounts(row: OutcomeCounts): OutcomeCounts {
  return {
    submitted: row.submitted,
    delivered: row.delivered,
    undelivered: row.undelivered,
    rejected: row.rejected,
    failed: row.failed,
    expired: row.expired,
    unknown: row.unknown,
  };
}

function deliveryMeasures(row: Pick<OutcomeCounts, "submitted" | "delivered"> & Latencies): DeliveryMeasures {
  return {
    deliveryRate: row.submitted === 0 ? null : row.delivered / row.submitted,
    latencyP50Ms: row.latency_p50_ms,
    latencyP95Ms: row.latency_p95_ms,
  };
}

/** `sum(counter)` per counter, as integer (a plain sum of integers would come back as bigint text). */
function sums(counters: readonly FunnelCounter[]): RawBuilder<unknown> {
  return sql.join(
    counters.map((counter) => sql`cast(sum(${sql.ref(counter)}) as integer) as ${sql.ref(counter)}`),
  );
}

function percentiles(): RawBuilder<unknown> {
  return sql`
    round(percentile_cont(0.5) within group (order by latency_ms)) as latency_p50_ms,
    round(percentile_cont(0.95) within group (order by latency_ms)) as latency_p95_ms
  `;
}
