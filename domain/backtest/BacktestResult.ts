import type { QualifiedData } from "../notification/ruleNotificationRequest.ts";

/** One day of one rule: how far its qualifications went. */
export interface Funnel {
  qualified: number;
  /** Qualifications the qualification policy turned into a notification. */
  requested: number;
  /** Stopped by a pre-send check, by reason. */
  suppressed: Record<string, number>;
  /** Held back to the end of quiet hours (then sent or stopped). */
  deferred: number;
  /** Handed to the SMS provider (at once or after a deferral). */
  sent: number;
}

export function emptyFunnel(): Funnel {
  return { qualified: 0, requested: 0, suppressed: {}, deferred: 0, sent: 0 };
}

/** An account that would gain (or lose) a rule's alert under the candidate rules. */
export interface SampledChange {
  readonly accountId: string;
  readonly ruleId: string;
  /** Its first qualification in the window under the candidate rules; null: none. */
  readonly candidate: { readonly at: string; readonly data: QualifiedData } | null;
  /** Its first recorded qualification in the window; null: none. */
  readonly actual: { readonly at: string; readonly data: QualifiedData } | null;
}

/** What a backtest found. */
export interface BacktestResult {
  readonly balancesReplayed: number;
  readonly balancesInWindow: number;
  /** Per day (UTC) and rule: the candidate's funnel beside what actually happened. */
  readonly rows: readonly {
    readonly day: string;
    readonly ruleId: string;
    readonly candidate: Funnel;
    readonly actual: Funnel;
  }[];
  readonly gains: readonly SampledChange[];
  readonly losses: readonly SampledChange[];
}

type Row = BacktestResult["rows"][number];

/** Rows by day, then rule. */
export function sortedRows(rows: Iterable<Row>): Row[] {
  return [...rows].sort((a, b) =>
    a.day === b.day ? a.ruleId.localeCompare(b.ruleId) : a.day < b.day ? -1 : 1,
  );
}

/**
 * The first `limit` accounts that would gain an alert (a candidate qualification, no recorded
 * one) and the first that would lose one, each by the time of its qualification, then account and
 * rule: the same examples however the log was split to be replayed.
 */
export function sampledChanges(
  changes: Iterable<SampledChange>,
  limit: number,
): { gains: SampledChange[]; losses: SampledChange[] } {
  const gains: SampledChange[] = [];
  const losses: SampledChange[] = [];
  for (const change of changes) {
    if (change.candidate !== null && change.actual === null) gains.push(change);
    if (change.candidate === null && change.actual !== null) losses.push(change);
  }
  const first = (list: SampledChange[], at: (change: SampledChange) => string) =>
    list
      .sort(
        (a, b) =>
          compareText(at(a), at(b)) ||
          compareText(a.accountId, b.accountId) ||
          compareText(a.ruleId, b.ruleId),
      )
      .slice(0, limit);
  return {
    gains: first(gains, (change) => change.candidate?.at ?? ""),
    losses: first(losses, (change) => change.actual?.at ?? ""),
  };
}

/**
 * One result of the results of replaying parts of a log, each part whole streams (every event of
 * an account, or of a notification, in one part): the funnels added up per day and rule, the
 * examples chosen as one replay of the whole log chooses them (`sampledChanges`).
 */
export function mergeBacktestResults(parts: readonly BacktestResult[], sampleSize: number): BacktestResult {
  const rows = new Map<string, Row>();
  for (const row of parts.flatMap((part) => part.rows)) {
    const key = `${row.day}\u0000${row.ruleId}`;
    const sum = rows.get(key);
    rows.set(
      key,
      sum === undefined
        ? row
        : {
            ...sum,
            candidate: addFunnels(sum.candidate, row.candidate),
            actual: addFunnels(sum.actual, row.actual),
          },
    );
  }
  return {
    balancesReplayed: parts.reduce((sum, part) => sum + part.balancesReplayed, 0),
    balancesInWindow: parts.reduce((sum, part) => sum + part.balancesInWindow, 0),
    rows: sortedRows(rows.values()),
    ...sampledChanges(
      parts.flatMap((part) => [...part.gains, ...part.losses]),
      sampleSize,
    ),
  };
}

function addFunnels(a: Funnel, b: Funnel): Funnel {
  const suppressed = { ...a.suppressed };
  for (const [reason, count] of Object.entries(b.suppressed))
    suppressed[reason] = (suppressed[reason] ?? 0) + count;
  return {
    qualified: a.qualified + b.qualified,
    requested: a.requested + b.requested,
    suppressed,
    deferred: a.deferred + b.deferred,
    sent: a.sent + b.sent,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
