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
