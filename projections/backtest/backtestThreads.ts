import { Worker } from "node:worker_threads";
import type { BacktestOptions } from "../../domain/backtest/BacktestReplay.ts";
import { mergeBacktestResults, type BacktestResult } from "../../domain/backtest/BacktestResult.ts";
import type { LogSnapshotPart, SharedLogSnapshot } from "../../gateways/eventStore/EventStore.ts";

/**
 * How a backtest spreads its replay over threads: each replays the streams of one part of a
 * shared log snapshot, and the parts' results are merged. Worth it on a machine with more than
 * one core; each part is a scan of the log on the database's side.
 */
export interface BacktestThreads {
  /** Threads, each replaying one part; 1 (or a store that shares no snapshot) replays in this thread. */
  readonly count: number;
  /** The module each thread runs: one that calls `serveBacktestPart` (bin/backtestWorker.ts). */
  readonly entry: URL;
  /** Node.js options for the threads (a loader for TypeScript, when the entry is TypeScript). */
  readonly execArgv: readonly string[];
  /** Handed to the entry as it is, to open the same event store: plain data only. */
  readonly store: unknown;
}

/** What a part's thread is given (`workerData`). */
export interface PartAssignment {
  readonly store: unknown;
  readonly part: LogSnapshotPart;
  readonly types: readonly string[];
  readonly options: BacktestOptions;
}

/** What a part's thread says: progress, then where its log ended, then (asked with the whole log's end) its result. */
export type PartMessage =
  | { readonly kind: "progress"; readonly balances: number }
  | { readonly kind: "replayed"; readonly latestBalanceMs: number }
  | { readonly kind: "result"; readonly result: BacktestResult };

/** What a part's thread is told once every part is replayed: where the whole log ends. */
export interface FinishMessage {
  readonly endMs: number;
}

/**
 * Replays the log in `threads.count` parts at once, one thread each, over one shared snapshot,
 * and merges the results: the same result as one replay of the whole log (`BacktestReplay`).
 * `onProgress` gets the balances replayed by all parts. An abort, or a thread that fails, stops
 * every thread and releases the snapshot.
 */
export async function replayInThreads(
  shareLogSnapshot: () => Promise<SharedLogSnapshot>,
  request: {
    readonly options: BacktestOptions;
    readonly types: readonly string[];
    readonly threads: BacktestThreads;
    readonly onProgress: (balances: number) => void;
    readonly signal?: AbortSignal | undefined;
  },
): Promise<BacktestResult> {
  const { threads, signal } = request;
  signal?.throwIfAborted();
  const shared = await shareLogSnapshot();
  const balances = new Array<number>(threads.count).fill(0);
  const parts = Array.from({ length: threads.count }, (_, index) => {
    const assignment: PartAssignment = {
      store: threads.store,
      part: { snapshot: shared.id, index, count: threads.count },
      types: request.types,
      options: request.options,
    };
    return new PartThread(threads, assignment, (replayed) => {
      balances[index] = replayed;
      request.onProgress(balances.reduce((sum, count) => sum + count, 0));
    });
  });
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const ends = await Promise.race([Promise.all(parts.map((part) => part.replayed)), aborted]);
    const endMs = Math.max(...ends);
    const results = await Promise.race([Promise.all(parts.map((part) => part.result(endMs))), aborted]);
    // Done: each thread closes its connection and ends by itself (given a moment).
    await Promise.all(parts.map((part) => part.exited(THREAD_EXIT_MS)));
    return mergeBacktestResults(results, request.options.sampleSize ?? 20);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await Promise.all(parts.map((part) => part.stop()));
    await shared.release();
  }
}

/** How long a thread that sent its result may take to close its connection before it is stopped. */
const THREAD_EXIT_MS = 2000;

/** One part's thread: its replay's end, then its result; any failure of the thread rejects both. */
class PartThread {
  readonly replayed: Promise<number>;
  readonly #worker: Worker;
  readonly #failed: Promise<never>;
  readonly #exit: Promise<void>;
  #result: ((result: BacktestResult) => void) | undefined;

  constructor(threads: BacktestThreads, assignment: PartAssignment, onProgress: (balances: number) => void) {
    this.#worker = new Worker(threads.entry, {
      workerData: assignment,
      execArgv: [...threads.execArgv],
    });
    this.#failed = new Promise<never>((_, reject) => {
      // What a thread threw reaches this one as a copy, not always an Error of this thread's.
      this.#worker.once("error", (error: unknown) =>
        reject(
          new Error(`the backtest thread of part ${assignment.part.index} failed: ${messageOf(error)}`, {
            cause: error,
          }),
        ),
      );
      this.#worker.once("exit", (code) =>
        reject(new Error(`the backtest thread of part ${assignment.part.index} stopped (exit code ${code})`)),
      );
    });
    this.#failed.catch(() => undefined);
    this.#exit = new Promise((resolve) => this.#worker.once("exit", () => resolve()));
    let replayed: (latestBalanceMs: number) => void = () => undefined;
    this.replayed = Promise.race([new Promise<number>((resolve) => (replayed = resolve)), this.#failed]);
    this.#worker.on("message", (message: PartMessage) => {
      if (message.kind === "progress") onProgress(message.balances);
      else if (message.kind === "replayed") replayed(message.latestBalanceMs);
      else this.#result?.(message.result);
    });
  }

  /** Asks for the part's result, its deferrals settled as of `endMs` (the whole log's end). */
  result(endMs: number): Promise<BacktestResult> {
    const result = new Promise<BacktestResult>((resolve) => (this.#result = resolve));
    const finish: FinishMessage = { endMs };
    this.#worker.postMessage(finish);
    return Promise.race([result, this.#failed]);
  }

  /** Waits for the thread to end by itself, at most `ms`. */
  async exited(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#exit, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /** Stops the thread now, if it still runs. */
  async stop(): Promise<void> {
    await this.#worker.terminate();
  }
}

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : String(error);
}
