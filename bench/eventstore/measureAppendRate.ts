import { performance } from "node:perf_hooks";
import { startProcessCpuMeter } from "./processCpuMeter.ts";
import type { AppendRateResult } from "./StoreMeasurement.ts";
import type { StreamWriter } from "./StoreUnderTest.ts";

export interface AppendRateOptions {
  /** Writers appending at once, each waiting for its append before the next (a closed loop). */
  readonly concurrency: number;
  readonly eventsPerAppend: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

/**
 * Runs `concurrency` writers back to back for the warm-up and then the measured window, and
 * counts the appends that completed inside the window (as pgbench counts transactions). Appends
 * still in flight when the window closes are awaited but not counted. Any failed append fails
 * the measurement: a benchmark that swallows errors measures the wrong thing.
 */
export async function measureAppendRate(
  openStreamWriter: () => StreamWriter,
  options: AppendRateOptions,
): Promise<AppendRateResult> {
  const countFrom = performance.now() + options.warmupSeconds * 1000;
  const stopAt = countFrom + options.seconds * 1000;
  const latenciesMs: number[] = [];
  let cpuPercentSinceWindowOpened = startProcessCpuMeter();
  const windowOpens = setTimeout(
    () => (cpuPercentSinceWindowOpened = startProcessCpuMeter()),
    countFrom - performance.now(),
  );

  const runWriter = async (): Promise<void> => {
    const writer = openStreamWriter();
    while (performance.now() < stopAt) {
      const startedAt = performance.now();
      await writer.append(options.eventsPerAppend);
      const finishedAt = performance.now();
      if (finishedAt >= countFrom && finishedAt <= stopAt) latenciesMs.push(finishedAt - startedAt);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, runWriter));
  } finally {
    clearTimeout(windowOpens);
  }
  // Includes the last in-flight appends after the window closed: at most one append per writer.
  const clientCpuPercent = cpuPercentSinceWindowOpened();

  latenciesMs.sort((a, b) => a - b);
  return {
    appends: latenciesMs.length,
    events: latenciesMs.length * options.eventsPerAppend,
    seconds: options.seconds,
    p50LatencyMs: percentile(latenciesMs, 0.5),
    p99LatencyMs: percentile(latenciesMs, 0.99),
    clientCpuPercent,
  };
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
