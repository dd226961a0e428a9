import type { EventStoreBenchmarkConfig } from "./EventStoreBenchmarkConfig.ts";

/** An event store driven from Node (pgbench needs no child process of ours). */
export type StoreSystemName = "tidemark" | "emmett";

/** What one child process is asked to do against one store. */
export type StoreMeasurementTask =
  | {
      readonly kind: "appendRate";
      readonly concurrency: number;
      readonly eventsPerAppend: number;
      readonly warmupSeconds: number;
      readonly seconds: number;
    }
  | {
      readonly kind: "seed";
      readonly events: number;
      readonly eventsPerAppend: number;
    }
  | {
      readonly kind: "readAll";
    };

/** The whole message a child process gets on its command line. */
export interface StoreMeasurementRequest {
  readonly system: StoreSystemName;
  readonly config: EventStoreBenchmarkConfig;
  readonly task: StoreMeasurementTask;
}

/** What a child process sends back over IPC. */
export type StoreMeasurementReply =
  | { readonly kind: "appendRate"; readonly result: AppendRateResult }
  | { readonly kind: "seed"; readonly events: number; readonly seconds: number }
  | {
      readonly kind: "readAll";
      readonly events: number;
      readonly seconds: number;
      /** The store process's CPU during the measured pass, in percent of one core. */
      readonly clientCpuPercent: number;
    }
  | { readonly kind: "failed"; readonly message: string };

/** Appends completed inside the measured window (after the warm-up), and how long they took. */
export interface AppendRateResult {
  readonly appends: number;
  readonly events: number;
  readonly seconds: number;
  readonly p50LatencyMs: number;
  readonly p99LatencyMs: number;
  /** The store process's CPU during the measured window, in percent of one core. */
  readonly clientCpuPercent: number;
}
