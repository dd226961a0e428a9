/** Runs of one measurement, as the report shows them. */
export interface TimingSummary {
  readonly runs: number;
  readonly median: number;
  /** Nearest rank: with 20 runs the 19th fastest, with fewer than 20 the slowest. */
  readonly p95: number;
  readonly min: number;
  readonly max: number;
}

/** Median, p95 (nearest rank), min and max of `values` (NaN for none). */
export function summarizeTimings(values: readonly number[]): TimingSummary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? Number.NaN;
  return {
    runs: sorted.length,
    median:
      sorted.length % 2 === 1
        ? rank(0.5)
        : ((sorted[sorted.length / 2 - 1] ?? Number.NaN) + (sorted[sorted.length / 2] ?? Number.NaN)) / 2,
    p95: rank(0.95),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}
