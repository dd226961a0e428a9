import type { ServerDescription } from "../shared/BenchmarkDatabaseAdmin.ts";
import {
  SYSTEM_LABELS,
  type EventStoreBenchmarkConfig,
  type SystemName,
} from "./EventStoreBenchmarkConfig.ts";
import type { EventStoreWorkloadResult } from "./EventStoreWorkload.ts";
import type { EventStoreBenchmarkOptions } from "./parseEventStoreBenchmarkOptions.ts";

/** Where and on what the numbers were measured. */
export interface BenchmarkEnvironment {
  readonly startedAt: Date;
  readonly machine: string;
  readonly nodeVersion: string;
  readonly server: ServerDescription;
  /** The commit measured, and whether the working tree differed from it. */
  readonly code: string;
  readonly emmettVersion: string;
}

const RAW_RATIO_GOAL = 0.7;
/** Issue 20's goal for multi-event appends, the floor under the bulk import. */
const BATCH_RAW_RATIO_GOAL = 0.6;
const EMMETT_RATIO_GOAL = 1.5;
const READ_RATE_GOAL = 200_000;
const COLUMNS: readonly SystemName[] = ["tidemark", "emmett", "raw", "rows"];

/** The whole report as markdown: settings, medians, every run, store processes, the goals. */
export function formatEventStoreReport(
  results: readonly EventStoreWorkloadResult[],
  options: EventStoreBenchmarkOptions,
  config: EventStoreBenchmarkConfig,
  environment: BenchmarkEnvironment,
): string {
  return [
    `## Event store benchmark, ${environment.startedAt.toISOString()}`,
    "",
    settingsList(options, config, environment),
    "",
    "### Medians",
    "",
    medianTable(results),
    "",
    `### Every run (${options.runs} per cell, in run order)`,
    "",
    runsTable(results),
    "",
    "### Store processes (medians over runs)",
    "",
    "Append latency as each writer saw it; client CPU is the Node process running the store, in " +
      "percent of one core (the machine's other cycles are what PostgreSQL gets).",
    "",
    storeProcessTable(results),
    "",
    "### Goals",
    "",
    goalsList(results),
    ...warningsList(results),
  ].join("\n");
}

function settingsList(
  options: EventStoreBenchmarkOptions,
  config: EventStoreBenchmarkConfig,
  environment: BenchmarkEnvironment,
): string {
  const { tidemark, emmett, raw, rows, poolSize } = config;
  const settings = Object.entries(environment.server.settings)
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
  return [
    `- Machine: ${environment.machine}; Node ${environment.nodeVersion}; code ${environment.code}`,
    `- PostgreSQL: ${environment.server.version} (${settings}), on the same machine`,
    `- Runs: ${options.runs} per cell, median reported; append runs measure ${options.seconds} s after ` +
      `${options.warmupSeconds} s of warm-up; the whole-log read reads ${number(options.readEvents)} events ` +
      `(after one unmeasured pass); each store starts empty for every append run`,
    `- Writers: each appends to its own stream, waiting for each append before the next; the first ` +
      `append expects no stream, later ones the exact revision`,
    `- Tidemark: PostgresEventStore, schema \`${tidemark.schema}\`, pg.Pool max ${poolSize}, ` +
      `maxInFlightBatches ${tidemark.maxInFlightBatches}, maxBatchAppends ${tidemark.maxBatchAppends}, ` +
      `minSplitEvents ${tidemark.minSplitEvents}, ` +
      `readPageSize ${tidemark.readPageSize}, event ids ${tidemark.eventIds === "tidemark" ? "its own (UUIDv7, time-ordered)" : "random (UUIDv4)"}`,
    `- Emmett: @event-driven-io/emmett-postgresql ${environment.emmettVersion}, database ` +
      `\`${emmett.database}\`, the same pg.Pool size (max ${poolSize}) through dumbo, whole-log read by ` +
      `\`readMessagesBatch\` with batchSize ${emmett.readBatchSize}`,
    `- Raw: pgbench -n -M prepared, one transaction per script run inserting 1 (or 100) event-sized ` +
      `jsonb rows into \`${raw.table}\`, -c = writers, -j 2 (1 for one client), -T ${options.seconds} ` +
      `after a ${options.warmupSeconds} s warm-up run; it opens one connection per client`,
    `- Tidemark's rows: the same pgbench runs inserting 1 (or 100) of Tidemark's event rows per ` +
      `transaction straight into \`${rows.schema}.events\` (migrated as Tidemark's log: its indexes and ` +
      `trigger), one stream per client, ids and revisions from a sequence; no append_batch, no ` +
      `\`streams\` row, nothing parsed: what the table itself costs`,
    `- Each store measurement runs in a fresh Node process; the stores' client CPU shares the ` +
      `machine with PostgreSQL, as pgbench's does`,
  ].join("\n");
}

function medianTable(results: readonly EventStoreWorkloadResult[]): string {
  const rows = results.map((result) => {
    const tidemark = medianOf(result, "tidemark");
    const emmett = medianOf(result, "emmett");
    const raw = medianOf(result, "raw");
    const rows = medianOf(result, "rows");
    return [
      result.workload.label,
      result.workload.unit,
      cell(result, "tidemark", tidemark),
      cell(result, "emmett", emmett),
      cell(result, "raw", raw),
      cell(result, "rows", rows),
      ratio(tidemark, raw),
      ratio(tidemark, rows),
      ratio(rows, raw),
      ratio(tidemark, emmett),
    ];
  });
  return table(
    [
      "workload",
      "unit",
      "Tidemark median",
      "Emmett median",
      "pgbench raw median",
      "pgbench, Tidemark's rows median",
      "Tidemark/raw",
      "Tidemark/rows",
      "rows/raw",
      "Tidemark/Emmett",
    ],
    rows,
  );
}

function runsTable(results: readonly EventStoreWorkloadResult[]): string {
  const rows = results.map((result) => [
    result.workload.label,
    ...COLUMNS.map((system) => {
      const rates = result.rates[system];
      if (rates === undefined) return notMeasured(result, system);
      return rates.map(number).join(" · ");
    }),
  ]);
  return table(["workload", ...COLUMNS.map((system) => `${SYSTEM_LABELS[system]} runs`)], rows);
}

function storeProcessTable(results: readonly EventStoreWorkloadResult[]): string {
  const stores: readonly SystemName[] = ["tidemark", "emmett"];
  const rows = results.map((result) => [
    result.workload.label,
    ...stores.flatMap((system) => {
      const runs = result.storeProcess[system];
      if (runs === undefined) return ["—", "—"];
      const p50 = median(runs.flatMap((run) => (run.latency === undefined ? [] : [run.latency.p50Ms])));
      const p99 = median(runs.flatMap((run) => (run.latency === undefined ? [] : [run.latency.p99Ms])));
      const cpu = median(runs.map((run) => run.cpuPercent));
      const latency = p50 === undefined || p99 === undefined ? "—" : `${p50.toFixed(2)} / ${p99.toFixed(2)}`;
      return [latency, cpu === undefined ? "—" : `${cpu.toFixed(0)}%`];
    }),
  ]);
  const header = stores.flatMap((system) => [
    `${SYSTEM_LABELS[system]} p50 / p99 ms`,
    `${SYSTEM_LABELS[system]} client CPU`,
  ]);
  return table(["workload", ...header], rows);
}

function goalsList(results: readonly EventStoreWorkloadResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    const tidemark = medianOf(result, "tidemark");
    const { workload } = result;
    if (workload.kind === "append" && workload.eventsPerAppend === 1 && workload.concurrency >= 16) {
      lines.push(
        verdict(
          `Tidemark ≥ ${RAW_RATIO_GOAL}× raw pgbench, ${workload.label}`,
          quotient(tidemark, medianOf(result, "raw")),
          RAW_RATIO_GOAL,
          (value) => `${value.toFixed(2)}×`,
        ),
      );
    }
    if (workload.kind === "append" && workload.eventsPerAppend > 1) {
      lines.push(
        verdict(
          `Tidemark ≥ ${BATCH_RAW_RATIO_GOAL}× raw pgbench, ${workload.label}`,
          quotient(tidemark, medianOf(result, "raw")),
          BATCH_RAW_RATIO_GOAL,
          (value) => `${value.toFixed(2)}×`,
        ),
      );
    }
    lines.push(
      verdict(
        `Tidemark ≥ ${EMMETT_RATIO_GOAL}× Emmett, ${workload.label}`,
        quotient(tidemark, medianOf(result, "emmett")),
        EMMETT_RATIO_GOAL,
        (value) => `${value.toFixed(2)}×`,
      ),
    );
    if (workload.kind === "readAll") {
      lines.push(
        verdict(
          `Tidemark whole-log read ≥ ${number(READ_RATE_GOAL)} events/s`,
          tidemark,
          READ_RATE_GOAL,
          (value) => `${number(value)} events/s`,
        ),
      );
    }
  }
  return lines.join("\n");
}

function warningsList(results: readonly EventStoreWorkloadResult[]): string[] {
  const warnings = results.flatMap((result) => result.warnings.map((warning) => `- ${warning}`));
  return warnings.length === 0 ? [] : ["", "### Warnings", "", ...warnings];
}

function verdict(
  goal: string,
  value: number | undefined,
  threshold: number,
  show: (value: number) => string,
) {
  if (value === undefined) return `- ${goal}: not measured`;
  return `- ${goal}: ${show(value)} — ${value >= threshold ? "met" : "**not met**"}`;
}

/** The median of a system's runs; undefined when it was not run or does not apply. */
function medianOf(result: EventStoreWorkloadResult, system: SystemName): number | undefined {
  const rates = result.rates[system];
  return rates === undefined ? undefined : median(rates);
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

function cell(result: EventStoreWorkloadResult, system: SystemName, median: number | undefined): string {
  return median === undefined ? notMeasured(result, system) : number(median);
}

function notMeasured(result: EventStoreWorkloadResult, system: SystemName): string {
  return result.notApplicable.includes(system) ? "n/a" : "—";
}

function quotient(numerator: number | undefined, denominator: number | undefined): number | undefined {
  if (numerator === undefined || denominator === undefined || denominator === 0) return undefined;
  return numerator / denominator;
}

function ratio(numerator: number | undefined, denominator: number | undefined): string {
  const value = quotient(numerator, denominator);
  return value === undefined ? "n/a" : `${value.toFixed(2)}×`;
}

function number(value: number): string {
  return Math.round(value).toLocaleString("en-GB");
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const numeric = (index: number) => index > 0;
  const separator = `|${header.map((_, index) => (numeric(index) ? " ---: " : " --- ")).join("|")}|`;
  return [line(header), separator, ...rows.map(line)].join("\n");
}
