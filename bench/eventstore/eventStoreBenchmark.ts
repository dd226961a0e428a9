import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { BenchmarkDatabaseAdmin } from "../shared/BenchmarkDatabaseAdmin.ts";
import { describeBenchmarkEnvironment } from "../shared/describeBenchmarkEnvironment.ts";
import {
  eventStoreBenchmarkConfig,
  SYSTEM_LABELS,
  type EventStoreBenchmarkConfig,
  type SystemName,
} from "./EventStoreBenchmarkConfig.ts";
import {
  EVENT_STORE_WORKLOADS,
  type EventStoreWorkload,
  type EventStoreWorkloadResult,
} from "./EventStoreWorkload.ts";
import { formatEventStoreReport } from "./formatEventStoreReport.ts";
import { measurePgbenchRate } from "./measurePgbenchRate.ts";
import {
  parseEventStoreBenchmarkOptions,
  type EventStoreBenchmarkOptions,
} from "./parseEventStoreBenchmarkOptions.ts";
import { runStoreMeasurement } from "./runStoreMeasurement.ts";
import type { StoreMeasurementReply, StoreMeasurementTask, StoreSystemName } from "./StoreMeasurement.ts";

type AppendWorkload = Extract<EventStoreWorkload, { kind: "append" }>;
type ReadAllWorkload = Extract<EventStoreWorkload, { kind: "readAll" }>;

type PgbenchSystemName = Exclude<SystemName, StoreSystemName>;

/** pgbench scripts by system and events per transaction: the counterpart of each append size. */
const PGBENCH_SCRIPTS: Readonly<Record<PgbenchSystemName, ReadonlyMap<number, string>>> = {
  raw: new Map([
    [1, fileURLToPath(new URL("./pgbench-insert.sql", import.meta.url))],
    [100, fileURLToPath(new URL("./pgbench-insert-100.sql", import.meta.url))],
  ]),
  rows: new Map([
    [1, fileURLToPath(new URL("./pgbench-rows-insert.sql", import.meta.url))],
    [100, fileURLToPath(new URL("./pgbench-rows-insert-100.sql", import.meta.url))],
  ]),
};

function isPgbenchSystem(system: SystemName): system is PgbenchSystemName {
  return system === "raw" || system === "rows";
}
/** Events per append when filling the log for the whole-log read. */
const SEED_EVENTS_PER_APPEND = 1000;

/**
 * `npm run bench -- eventstore`: Tidemark's PostgresEventStore against Emmett's PostgreSQL event
 * store and raw pgbench inserts on the same server, the same workloads and the same event. Prints
 * progress to stderr and a markdown report to stdout.
 * @throws UsageError for bad flags; Error for anything that makes the numbers untrustworthy.
 */
export async function runEventStoreBenchmark(args: readonly string[]): Promise<void> {
  const options = parseEventStoreBenchmarkOptions(args);
  const config = eventStoreBenchmarkConfig(process.env, options.eventIds);
  const admin = await BenchmarkDatabaseAdmin.connect(config);
  try {
    const environment = await describeBenchmarkEnvironment(admin);
    const benchmark = new EventStoreBenchmark(options, config, admin);
    const results: EventStoreWorkloadResult[] = [];
    for (const workload of EVENT_STORE_WORKLOADS) {
      results.push(
        workload.kind === "append"
          ? await benchmark.measureAppends(workload)
          : await benchmark.measureWholeLogRead(workload),
      );
    }
    process.stdout.write(`${formatEventStoreReport(results, options, config, environment)}\n`);
  } finally {
    await admin.close();
  }
}

class EventStoreBenchmark {
  readonly #startedAt = performance.now();

  constructor(
    private readonly options: EventStoreBenchmarkOptions,
    private readonly config: EventStoreBenchmarkConfig,
    private readonly admin: BenchmarkDatabaseAdmin,
  ) {}

  /** Every run of every system, interleaved (run 1 of each, then run 2…) so drift hits all alike. */
  async measureAppends(workload: AppendWorkload): Promise<EventStoreWorkloadResult> {
    const result = emptyResult(workload, []);
    const { runs } = this.options;
    for (let run = 1; run <= runs; run += 1) {
      for (const system of this.options.systems) {
        this.#progress(`${workload.label} · run ${run}/${runs} · ${SYSTEM_LABELS[system]}`);
        const rate = isPgbenchSystem(system)
          ? await this.#measurePgbenchAppends(system, workload, run, result)
          : await this.#measureStoreAppends(system, workload, result);
        (result.rates[system] ??= []).push(rate);
        this.#progress(`  → ${Math.round(rate).toLocaleString("en-GB")} ${workload.unit}`);
      }
    }
    return result;
  }

  /** Fills each store once, then reads the whole log `runs` times; pgbench has no counterpart. */
  async measureWholeLogRead(workload: ReadAllWorkload): Promise<EventStoreWorkloadResult> {
    const result = emptyResult(workload, ["raw", "rows"]);
    const stores = this.options.systems.filter(
      (system): system is StoreSystemName => !isPgbenchSystem(system),
    );
    const { readEvents, runs } = this.options;
    for (const system of stores) {
      this.#progress(`${workload.label} · filling ${SYSTEM_LABELS[system]} with ${readEvents} events`);
      await this.#reset(system);
      const seeded = await this.#inChild(system, {
        kind: "seed",
        events: readEvents,
        eventsPerAppend: SEED_EVENTS_PER_APPEND,
      });
      if (seeded.kind !== "seed") throw new Error(`${system} seed answered ${seeded.kind}`);
      this.#progress(`  → ${Math.round(seeded.events / seeded.seconds).toLocaleString("en-GB")} events/s`);
    }
    for (let run = 1; run <= runs; run += 1) {
      for (const system of stores) {
        this.#progress(`${workload.label} · run ${run}/${runs} · ${SYSTEM_LABELS[system]}`);
        const reply = await this.#inChild(system, { kind: "readAll" });
        if (reply.kind !== "readAll") throw new Error(`${system} readAll answered ${reply.kind}`);
        if (reply.events !== readEvents) {
          result.warnings.push(
            `${SYSTEM_LABELS[system]} whole-log read, run ${run}: read ${reply.events} of ${readEvents} events`,
          );
        }
        const rate = reply.events / reply.seconds;
        (result.rates[system] ??= []).push(rate);
        (result.storeProcess[system] ??= []).push({ cpuPercent: reply.clientCpuPercent });
        this.#progress(
          `  → ${Math.round(rate).toLocaleString("en-GB")} events/s (${reply.events} events); ` +
            `client CPU ${reply.clientCpuPercent.toFixed(0)}% of a core`,
        );
      }
    }
    return result;
  }

  async #measureStoreAppends(
    system: StoreSystemName,
    workload: AppendWorkload,
    result: EventStoreWorkloadResult,
  ): Promise<number> {
    await this.#reset(system);
    const reply = await this.#inChild(system, {
      kind: "appendRate",
      concurrency: workload.concurrency,
      eventsPerAppend: workload.eventsPerAppend,
      warmupSeconds: this.options.warmupSeconds,
      seconds: this.options.seconds,
    });
    if (reply.kind !== "appendRate") throw new Error(`${system} appendRate answered ${reply.kind}`);
    const { appends, events, seconds, p50LatencyMs, p99LatencyMs, clientCpuPercent } = reply.result;
    (result.storeProcess[system] ??= []).push({
      latency: { p50Ms: p50LatencyMs, p99Ms: p99LatencyMs },
      cpuPercent: clientCpuPercent,
    });
    this.#progress(
      `  latency p50 ${p50LatencyMs.toFixed(2)} ms, p99 ${p99LatencyMs.toFixed(2)} ms; ` +
        `client CPU ${clientCpuPercent.toFixed(0)}% of a core`,
    );
    return (workload.unit === "appends/s" ? appends : events) / seconds;
  }

  /** pgbench's rate; a run that completed nothing counts 0 and says so among the warnings. */
  async #measurePgbenchAppends(
    system: PgbenchSystemName,
    workload: AppendWorkload,
    runNumber: number,
    result: EventStoreWorkloadResult,
  ): Promise<number> {
    const scriptPath = PGBENCH_SCRIPTS[system].get(workload.eventsPerAppend);
    if (scriptPath === undefined)
      throw new Error(`no pgbench script for ${system}, ${workload.eventsPerAppend}-event appends`);
    await this.#reset(system);
    const run = { databaseUrl: this.config.databaseUrl, scriptPath, clients: workload.concurrency };
    if (this.options.warmupSeconds > 0) {
      // Only to warm the server: whatever it gives (nothing, even a failure) is not a result.
      const warmup = await measurePgbenchRate({ ...run, seconds: this.options.warmupSeconds }).catch(
        (error: unknown) => ({ kind: "failed", error }) as const,
      );
      if (warmup.kind !== "measured")
        this.#progress(`  warm-up: ${warmup.kind} (not a result; measuring on)`);
    }
    const outcome = await measurePgbenchRate({ ...run, seconds: this.options.seconds });
    if (outcome.kind === "nothing completed") {
      result.warnings.push(
        `${SYSTEM_LABELS[system]} ${workload.label}, run ${runNumber}: no transaction completed in ` +
          `${this.options.seconds} s (counted as 0; pgbench said: ${outcome.output.trim().split("\n").slice(-3).join(" / ")})`,
      );
      return 0;
    }
    return workload.unit === "appends/s"
      ? outcome.transactionsPerSecond
      : outcome.transactionsPerSecond * workload.eventsPerAppend;
  }

  async #reset(system: SystemName): Promise<void> {
    switch (system) {
      case "tidemark":
        return this.admin.resetTidemark();
      case "emmett":
        return this.admin.resetEmmett();
      case "raw":
        return this.admin.resetRaw();
      case "rows":
        return this.admin.resetRows();
      default: {
        const unknown: never = system;
        throw new Error(`unknown system: ${String(unknown)}`);
      }
    }
  }

  #inChild(system: StoreSystemName, task: StoreMeasurementTask): Promise<StoreMeasurementReply> {
    return runStoreMeasurement({ system, config: this.config, task });
  }

  #progress(message: string): void {
    const elapsed = ((performance.now() - this.#startedAt) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[eventstore ${elapsed} s] ${message}\n`);
  }
}

function emptyResult(
  workload: EventStoreWorkload,
  notApplicable: readonly SystemName[],
): EventStoreWorkloadResult {
  return { workload, rates: {}, storeProcess: {}, notApplicable, warnings: [] };
}
