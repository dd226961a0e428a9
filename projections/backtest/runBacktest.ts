import { performance } from "node:perf_hooks";
import {
  BacktestReplay,
  REPLAYED_EVENT_TYPES,
  type BacktestOptions,
} from "../../domain/backtest/BacktestReplay.ts";
import {
  emptyFunnel,
  type BacktestResult,
  type Funnel,
  type SampledChange,
} from "../../domain/backtest/BacktestResult.ts";
import type { Templates } from "../../domain/notification/Templates.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { SUPPRESSION_REASONS } from "../../domain/notification/NotificationStatus.ts";
import { toCsv } from "../api/toCsv.ts";
import { explainTimelineEntry } from "../timeline/explainTimelineEntry.ts";
import { replayInThreads, type BacktestThreads } from "./backtestThreads.ts";

export interface BacktestRequest {
  /** The candidate rules, as if they had always been in force. */
  readonly rules: readonly Rule[];
  /** Every rule ever published: explains what actually happened. */
  readonly actualRules: readonly Rule[];
  readonly templates: Templates;
  readonly fromMs: number;
  readonly toMs: number;
  readonly bounds?: ReferenceTimeBounds;
  readonly sampleSize?: number;
  /** Told every batch or so: balances replayed, seconds since the start. */
  readonly onProgress?: (balances: number, seconds: number) => void;
  readonly signal?: AbortSignal;
  /** Replays in parts on threads (when the store shares snapshots); in this thread without. */
  readonly threads?: BacktestThreads;
}

/** One account that would gain or lose an alert, each side explained as the console's timeline says it. */
export interface ExplainedChange {
  readonly accountId: string;
  readonly ruleId: string;
  readonly candidate: { readonly at: string; readonly explanation: string } | null;
  readonly actual: { readonly at: string; readonly explanation: string } | null;
}

/** A backtest's report: the funnel per day and rule, candidate beside actual, and examples. */
export interface BacktestReport {
  readonly from: string;
  readonly to: string;
  readonly balancesReplayed: number;
  readonly balancesInWindow: number;
  readonly seconds: number;
  readonly balancesPerSecond: number;
  readonly rows: BacktestResult["rows"];
  readonly totals: { readonly candidate: Funnel; readonly actual: Funnel };
  readonly gains: readonly ExplainedChange[];
  readonly losses: readonly ExplainedChange[];
}

/**
 * Replays the whole log as it stood when the backtest began (a log snapshot of the types the
 * replay looks at), through the candidate rules (`BacktestReplay`): reads only, appends nothing,
 * sends nothing, writes no read model. Decisions are counted within [from, to); everything
 * before builds the state they are made in. With `threads` (and a store that shares snapshots),
 * the log is replayed in parts by stream, one thread each, and the parts merged: the same result.
 */
export async function runBacktest(store: EventStore, request: BacktestRequest): Promise<BacktestReport> {
  const options: BacktestOptions = {
    rules: request.rules,
    templates: request.templates,
    fromMs: request.fromMs,
    toMs: request.toMs,
    ...(request.bounds === undefined ? {} : { bounds: request.bounds }),
    ...(request.sampleSize === undefined ? {} : { sampleSize: request.sampleSize }),
  };
  const startedAt = performance.now();
  const seconds = () => (performance.now() - startedAt) / 1000;
  const onProgress = (balances: number) => request.onProgress?.(balances, seconds());
  const { threads } = request;
  const share = store.shareLogSnapshot?.bind(store);
  const result =
    threads !== undefined && threads.count > 1 && share !== undefined
      ? await replayInThreads(share, {
          options,
          types: REPLAYED_EVENT_TYPES,
          threads,
          onProgress,
          signal: request.signal,
        })
      : await replayInThisThread(store, options, onProgress, request.signal);
  const elapsed = seconds();
  return {
    from: new Date(request.fromMs).toISOString(),
    to: new Date(request.toMs).toISOString(),
    balancesReplayed: result.balancesReplayed,
    balancesInWindow: result.balancesInWindow,
    seconds: elapsed,
    balancesPerSecond: elapsed > 0 ? Math.round(result.balancesReplayed / elapsed) : 0,
    rows: result.rows,
    totals: totalsOf(result.rows),
    gains: result.gains.map((change) => explained(change, request)),
    losses: result.losses.map((change) => explained(change, request)),
  };
}

async function replayInThisThread(
  store: EventStore,
  options: BacktestOptions,
  onProgress: (balances: number) => void,
  signal: AbortSignal | undefined,
): Promise<BacktestResult> {
  const replay = new BacktestReplay(options);
  for await (const batch of store.readLogSnapshot({ types: REPLAYED_EVENT_TYPES })) {
    for (const event of batch) replay.apply(event);
    onProgress(replay.balancesReplayed);
    signal?.throwIfAborted();
  }
  return replay.result();
}

function explained(change: SampledChange, request: BacktestRequest): ExplainedChange {
  const explain = (side: SampledChange["candidate"], rules: readonly Rule[]) =>
    side === null
      ? null
      : {
          at: side.at,
          explanation: explainTimelineEntry({ type: "AccountQualified", data: side.data }, false, rules),
        };
  return {
    accountId: change.accountId,
    ruleId: change.ruleId,
    candidate: explain(change.candidate, request.rules),
    actual: explain(change.actual, request.actualRules),
  };
}

function totalsOf(rows: BacktestResult["rows"]): { candidate: Funnel; actual: Funnel } {
  const sum = (side: "candidate" | "actual"): Funnel => {
    const total = emptyFunnel();
    for (const row of rows) {
      const funnel = row[side];
      total.qualified += funnel.qualified;
      total.requested += funnel.requested;
      total.deferred += funnel.deferred;
      total.sent += funnel.sent;
      for (const [reason, count] of Object.entries(funnel.suppressed)) {
        total.suppressed[reason] = (total.suppressed[reason] ?? 0) + count;
      }
    }
    return total;
  };
  return { candidate: sum("candidate"), actual: sum("actual") };
}

const SUPPRESSION_COLUMNS = SUPPRESSION_REASONS.map((reason) => `suppressed_${reason}`);
const CSV_COLUMNS = [
  "day",
  "rule",
  "side",
  "qualified",
  "requested",
  ...SUPPRESSION_COLUMNS,
  "deferred",
  "sent",
];

/** The report's rows as CSV (RFC 4180): one line per day, rule and side (candidate, actual). */
export function backtestCsv(report: BacktestReport): string {
  const lines = report.rows.flatMap((row) =>
    (["candidate", "actual"] as const).map((side) => {
      const funnel = row[side];
      return {
        day: row.day,
        rule: row.ruleId,
        side,
        qualified: funnel.qualified,
        requested: funnel.requested,
        ...Object.fromEntries(
          SUPPRESSION_REASONS.map((reason) => [`suppressed_${reason}`, funnel.suppressed[reason] ?? 0]),
        ),
        deferred: funnel.deferred,
        sent: funnel.sent,
      };
    }),
  );
  return toCsv(CSV_COLUMNS, lines);
}
