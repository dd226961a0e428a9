import type { SystemName } from "./EventStoreBenchmarkConfig.ts";

/** One row of the report: what every system is asked to do. */
export type EventStoreWorkload =
  | {
      readonly kind: "append";
      readonly label: string;
      readonly unit: "appends/s" | "events/s";
      /** Writers at once, each on its own stream. */
      readonly concurrency: number;
      readonly eventsPerAppend: number;
    }
  | {
      readonly kind: "readAll";
      readonly label: string;
      readonly unit: "events/s";
    };

/** One run of a store's process: append latency (appends only) and the CPU it used. */
export interface StoreProcessStats {
  readonly latency?: { readonly p50Ms: number; readonly p99Ms: number };
  /** Percent of one core. */
  readonly cpuPercent: number;
}

/** The measured rates of one workload, one value per run, in the workload's unit. */
export interface EventStoreWorkloadResult {
  readonly workload: EventStoreWorkload;
  readonly rates: Partial<Record<SystemName, number[]>>;
  /** Per run, what the store's own process saw (pgbench's are not collected). */
  readonly storeProcess: Partial<Record<SystemName, StoreProcessStats[]>>;
  /** Systems for which this workload has no counterpart (pgbench has no whole-log read). */
  readonly notApplicable: readonly SystemName[];
  /** Anything that makes a number less than it seems, e.g. a read that returned too few events. */
  readonly warnings: string[];
}

/** The workloads in report order. Single-event rows report appends/s (= events/s). */
export const EVENT_STORE_WORKLOADS: readonly EventStoreWorkload[] = [
  {
    kind: "append",
    label: "single-event appends, 1 writer",
    unit: "appends/s",
    concurrency: 1,
    eventsPerAppend: 1,
  },
  {
    kind: "append",
    label: "single-event appends, 16 writers",
    unit: "appends/s",
    concurrency: 16,
    eventsPerAppend: 1,
  },
  {
    kind: "append",
    label: "single-event appends, 64 writers",
    unit: "appends/s",
    concurrency: 64,
    eventsPerAppend: 1,
  },
  {
    kind: "append",
    label: "100-event appends, 1 writer",
    unit: "events/s",
    concurrency: 1,
    eventsPerAppend: 100,
  },
  {
    kind: "append",
    label: "100-event appends, 16 writers",
    unit: "events/s",
    concurrency: 16,
    eventsPerAppend: 100,
  },
  { kind: "readAll", label: "whole-log read", unit: "events/s" },
];
