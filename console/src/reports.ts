/** The report rows the query API answers (`/reports/funnel`, `/reports/providers`), and their sums. */

export interface FunnelRow {
  readonly day: string;
  readonly ruleId: string;
  readonly messageClass: string;
  readonly qualified: number;
  readonly requested: number;
  readonly suppressedOptedOut: number;
  readonly suppressedFrequencyCap: number;
  readonly suppressedDuplicate: number;
  readonly suppressedBalanceRecovered: number;
  readonly suppressedStaleBalance: number;
  readonly deferred: number;
  readonly cancelled: number;
  readonly submitted: number;
  readonly delivered: number;
  readonly undelivered: number;
  readonly rejected: number;
  readonly failed: number;
  readonly expired: number;
  readonly unknown: number;
  readonly deliveryRate: number | null;
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
}

export interface ProviderRow {
  readonly day: string;
  readonly provider: string;
  readonly submitted: number;
  readonly delivered: number;
  readonly undelivered: number;
  readonly rejected: number;
  readonly failed: number;
  readonly expired: number;
  readonly unknown: number;
  readonly cancelled: number;
  readonly deliveryRate: number | null;
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
}

export interface Report<Row> {
  readonly from: string;
  readonly to: string;
  readonly rows: readonly Row[];
}

/** The funnel's counters, in funnel order. */
export const FUNNEL_COUNTERS = [
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
] as const;

export type FunnelCounter = (typeof FUNNEL_COUNTERS)[number];

export const SUPPRESSION_COUNTERS = [
  "suppressedOptedOut",
  "suppressedFrequencyCap",
  "suppressedDuplicate",
  "suppressedBalanceRecovered",
  "suppressedStaleBalance",
] as const satisfies readonly FunnelCounter[];

export type FunnelTotals = Readonly<Record<FunnelCounter, number>> & {
  readonly suppressed: number;
  /** delivered / submitted over the range, as the API computes it per row; null when nothing was submitted. */
  readonly deliveryRate: number | null;
};

/** Sums of the rows' counters: the figures the overview shows for the whole range. */
export function funnelTotals(rows: readonly FunnelRow[]): FunnelTotals {
  const sums = Object.fromEntries(FUNNEL_COUNTERS.map((counter) => [counter, 0])) as Record<
    FunnelCounter,
    number
  >;
  for (const row of rows) for (const counter of FUNNEL_COUNTERS) sums[counter] += row[counter];
  const suppressed = SUPPRESSION_COUNTERS.reduce((total, counter) => total + sums[counter], 0);
  return { ...sums, suppressed, deliveryRate: sums.submitted === 0 ? null : sums.delivered / sums.submitted };
}

/** The rows grouped by day (every day of the range, zero-filled), summed. */
export function funnelByDay(
  rows: readonly FunnelRow[],
  from: string,
  to: string,
): readonly { day: string; totals: FunnelTotals }[] {
  const days: string[] = [];
  for (
    let day = new Date(`${from}T00:00:00Z`);
    day <= new Date(`${to}T00:00:00Z`);
    day = new Date(day.getTime() + 86_400_000)
  ) {
    days.push(day.toISOString().slice(0, 10));
  }
  return days.map((day) => ({ day, totals: funnelTotals(rows.filter((row) => row.day === day)) }));
}
