import { availableParallelism } from "node:os";
import type { BacktestThreads } from "../projections/backtest/backtestThreads.ts";

/** How a backtest's thread opens the PostgreSQL event store (bin/backtestWorker.ts). */
export interface PostgresBacktestStore {
  readonly databaseUrl: string;
  /** The event store's schema, when not the default. */
  readonly schema?: string;
}

/** Two threads on two cores or more; one (no thread of its own) on one. */
export const DEFAULT_BACKTEST_THREADS = Math.min(availableParallelism(), 2);

/**
 * Backtest threads over the PostgreSQL event store at `store`: bin/backtestWorker.ts, as
 * TypeScript under the loader this process runs with, or its bundle, dist/backtestWorker.js, when
 * this process runs bundles (also from TypeScript with `bundled`, for a bundle built beforehand:
 * it starts faster). (The build keeps `import.meta.url` naming the source file; the file running
 * is `import.meta.filename`.)
 */
export function backtestThreadsFor(
  store: PostgresBacktestStore,
  count: number,
  options: { readonly bundled?: boolean } = {},
): BacktestThreads {
  const typescript = import.meta.filename.endsWith(".ts") && options.bundled !== true;
  return {
    count,
    entry: new URL(typescript ? "./backtestWorker.ts" : "../dist/backtestWorker.js", import.meta.url),
    // A bundle needs no loader; the npm scripts' build check must not run again in every thread.
    execArgv: threadExecArgv(process.execArgv, typescript),
    store,
  };
}

const LOADER_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

/**
 * The options of this process a thread takes: source maps, and the loaders when the entry is
 * TypeScript. Nothing else: a thread refuses process-wide options (V8's heap and GC flags).
 */
export function threadExecArgv(execArgv: readonly string[], withLoaders: boolean): string[] {
  const kept: string[] = [];
  for (let index = 0; index < execArgv.length; index += 1) {
    const arg = execArgv[index] ?? "";
    const flag = arg.split("=", 1)[0] ?? arg;
    if (arg === "--enable-source-maps") kept.push(arg);
    else if (withLoaders && LOADER_FLAGS.has(flag)) {
      kept.push(arg);
      if (!arg.includes("=") && index + 1 < execArgv.length) kept.push(execArgv[(index += 1)] ?? "");
    }
  }
  return kept;
}
