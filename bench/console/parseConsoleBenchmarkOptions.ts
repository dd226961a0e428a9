import { chosenNames, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

/** What the console benchmark measures, in report order. */
export type ConsoleMeasurement = "bundle" | "overview" | "customer" | "api";

export const CONSOLE_MEASUREMENTS: readonly ConsoleMeasurement[] = ["bundle", "overview", "customer", "api"];

/** How big the log is, how often to measure, and what. */
export interface ConsoleBenchmarkOptions {
  /** Events in the generated log before the busy account is added (generated once, then reused). */
  readonly events: number;
  /** Measured runs per cell; the report gives their median and p95. */
  readonly runs: number;
  /** Regenerate the event log even when one big enough is there. */
  readonly fresh: boolean;
  readonly measurements: readonly ConsoleMeasurement[];
}

export const CONSOLE_BENCHMARK_FLAGS = `  --events N        events in the generated log, accounts = events / 50 (default 1000000)
  --runs N          measured runs per cell; the report shows the median and p95 (default 20)
  --fresh           regenerate the event log even if schema bench_console_log holds enough events
  --only LIST       measurements to run, comma-separated: ${CONSOLE_MEASUREMENTS.join(",")} (default all)`;

/**
 * Reads the console benchmark's flags.
 * @throws UsageError for an unknown flag or a value out of range.
 */
export function parseConsoleBenchmarkOptions(args: readonly string[]): ConsoleBenchmarkOptions {
  const values = parseBenchmarkFlags(args, {
    events: { type: "string", default: "1000000" },
    runs: { type: "string", default: "20" },
    fresh: { type: "boolean", default: false },
    only: { type: "string", default: CONSOLE_MEASUREMENTS.join(",") },
  });
  return {
    events: wholeNumber("--events", values.events, 1000),
    runs: wholeNumber("--runs", values.runs, 1),
    fresh: values.fresh,
    measurements: chosenNames(values.only, CONSOLE_MEASUREMENTS),
  };
}
