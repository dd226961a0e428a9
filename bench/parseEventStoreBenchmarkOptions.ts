import { parseArgs } from "node:util";
import { SYSTEM_NAMES, type SystemName } from "./EventStoreBenchmarkConfig.ts";
import { UsageError } from "./UsageError.ts";

/** How long and how often to measure, and which systems to include. */
export interface EventStoreBenchmarkOptions {
  /** Measured seconds per append run (whole seconds: pgbench's `-T` takes nothing finer). */
  readonly seconds: number;
  /** Unmeasured seconds before each append run. */
  readonly warmupSeconds: number;
  /** Runs per measurement; the report gives their median. */
  readonly runs: number;
  /** Events in the log before the whole-log read. */
  readonly readEvents: number;
  readonly systems: readonly SystemName[];
}

export const EVENT_STORE_BENCHMARK_FLAGS = `  --seconds N       measured seconds per append run (default 5)
  --warmup N        warm-up seconds before each append run (default 1)
  --runs N          runs per measurement; the report shows the median (default 3)
  --read-events N   events written before the whole-log read (default 200000)
  --only LIST       systems to run, comma-separated: tidemark,emmett,raw (default all)`;

/**
 * Reads the event store benchmark's flags.
 * @throws UsageError for an unknown flag or a value out of range.
 */
export function parseEventStoreBenchmarkOptions(args: readonly string[]): EventStoreBenchmarkOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: "string", default: "5" },
        warmup: { type: "string", default: "1" },
        runs: { type: "string", default: "3" },
        "read-events": { type: "string", default: "200000" },
        only: { type: "string", default: SYSTEM_NAMES.join(",") },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    seconds: wholeNumber("--seconds", values.seconds, 1),
    warmupSeconds: wholeNumber("--warmup", values.warmup, 0),
    runs: wholeNumber("--runs", values.runs, 1),
    readEvents: wholeNumber("--read-events", values["read-events"], 1),
    systems: systemList(values.only),
  };
}

function wholeNumber(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`${flag} must be a whole number >= ${minimum}, not "${text}"`);
  }
  return value;
}

function systemList(text: string): SystemName[] {
  const names = text.split(",").map((name) => name.trim());
  const systems = SYSTEM_NAMES.filter((system) => names.includes(system));
  const unknown = names.filter((name) => !SYSTEM_NAMES.some((system) => system === name));
  if (unknown.length > 0 || systems.length === 0) {
    throw new UsageError(`--only takes ${SYSTEM_NAMES.join(", ")} (comma-separated), not "${text}"`);
  }
  return systems;
}
