import {
  EVENT_ID_KINDS,
  SYSTEM_NAMES,
  type EventIdKind,
  type SystemName,
} from "./EventStoreBenchmarkConfig.ts";
import { chosenNames, oneName, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

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
  /** Which event ids Tidemark's writers send: its own (time-ordered) or random version-4 UUIDs. */
  readonly eventIds: EventIdKind;
}

export const EVENT_STORE_BENCHMARK_FLAGS = `  --seconds N       measured seconds per append run (default 5)
  --warmup N        warm-up seconds before each append run (default 1)
  --runs N          runs per measurement; the report shows the median (default 3)
  --read-events N   events written before the whole-log read (default 200000)
  --only LIST       systems to run, comma-separated: tidemark,emmett,raw,rows (default all)
  --event-ids KIND  Tidemark's event ids: tidemark (its own, UUIDv7) or random (UUIDv4) (default tidemark)`;

/**
 * Reads the event store benchmark's flags.
 * @throws UsageError for an unknown flag or a value out of range.
 */
export function parseEventStoreBenchmarkOptions(args: readonly string[]): EventStoreBenchmarkOptions {
  const values = parseBenchmarkFlags(args, {
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
    "read-events": { type: "string", default: "200000" },
    only: { type: "string", default: SYSTEM_NAMES.join(",") },
    "event-ids": { type: "string", default: "tidemark" },
  });
  return {
    seconds: wholeNumber("--seconds", values.seconds, 1),
    warmupSeconds: wholeNumber("--warmup", values.warmup, 0),
    runs: wholeNumber("--runs", values.runs, 1),
    readEvents: wholeNumber("--read-events", values["read-events"], 1),
    systems: chosenNames(values.only, SYSTEM_NAMES),
    eventIds: oneName("--event-ids", values["event-ids"], EVENT_ID_KINDS),
  };
}
