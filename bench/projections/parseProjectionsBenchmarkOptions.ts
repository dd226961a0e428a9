import { UsageError } from "../shared/UsageError.ts";
import { chosenNames, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

/** The three measurements of the projections benchmark, in report order. */
export type ProjectionsMeasurement = "rebuild" | "latency" | "queries";

export const PROJECTIONS_MEASUREMENTS: readonly ProjectionsMeasurement[] = ["rebuild", "latency", "queries"];

/** How big the log is, how long and how often to measure, and what. */
export interface ProjectionsBenchmarkOptions {
  /** Events in the benchmark's event log (generated once, then reused). */
  readonly events: number;
  /** Runs per measurement; the report gives their median and every run. */
  readonly runs: number;
  /** Seconds of steady command load, and of each cached-query run. */
  readonly seconds: number;
  /** Seconds of the closed-loop run that finds the command API's peak. */
  readonly peakSeconds: number;
  /** Connections of every closed-loop run (the command API's peak and the queries). */
  readonly connections: number;
  /** Steady command load, in percent of the measured peak. */
  readonly loadPercent: number;
  /** Regenerate the event log even when one big enough is there. */
  readonly fresh: boolean;
  readonly measurements: readonly ProjectionsMeasurement[];
  /**
   * Where the latency measurement runs the projector: in the command API's process (as one
   * all-roles `npm start` does) or in a process of its own (as a deployment runs the roles).
   */
  readonly projector: ProjectorPlacement;
}

export type ProjectorPlacement = "together" | "apart";

export const PROJECTIONS_BENCHMARK_FLAGS = `  --events N        events in the generated log, accounts = events / 50 (default 1000000)
  --runs N          runs per measurement; the report shows the median (default 3)
  --seconds N       seconds of steady command load, and of each query run (default 10)
  --peak-seconds N  seconds of the closed-loop run that finds the command API's peak (default 5)
  --connections N   connections of the closed-loop runs (default 64)
  --load N          steady command load in percent of the peak (default 70)
  --fresh           regenerate the event log even if schema bench_projections holds enough events
  --projector WHERE latency: the projector runs "together" with the command API in one process, as
                    one all-roles npm start does, or "apart" in its own, as a deployment runs it (default apart)
  --only LIST       measurements to run, comma-separated: ${PROJECTIONS_MEASUREMENTS.join(",")} (default all)`;

/**
 * Reads the projections benchmark's flags.
 * @throws UsageError for an unknown flag or a value out of range.
 */
export function parseProjectionsBenchmarkOptions(args: readonly string[]): ProjectionsBenchmarkOptions {
  const values = parseBenchmarkFlags(args, {
    events: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    "peak-seconds": { type: "string", default: "5" },
    connections: { type: "string", default: "64" },
    load: { type: "string", default: "70" },
    fresh: { type: "boolean", default: false },
    only: { type: "string", default: PROJECTIONS_MEASUREMENTS.join(",") },
    projector: { type: "string", default: "apart" },
  });
  const loadPercent = wholeNumber("--load", values.load, 1);
  if (loadPercent > 100)
    throw new UsageError(`--load is a percentage of the peak, 1 to 100, not ${loadPercent}`);
  const projector = values.projector;
  if (projector !== "together" && projector !== "apart")
    throw new UsageError(`--projector is "together" or "apart", not ${JSON.stringify(projector)}`);
  return {
    events: wholeNumber("--events", values.events, 1000),
    runs: wholeNumber("--runs", values.runs, 1),
    seconds: wholeNumber("--seconds", values.seconds, 1),
    peakSeconds: wholeNumber("--peak-seconds", values["peak-seconds"], 1),
    connections: wholeNumber("--connections", values.connections, 1),
    loadPercent,
    fresh: values.fresh,
    measurements: chosenNames(values.only, PROJECTIONS_MEASUREMENTS),
    projector,
  };
}
