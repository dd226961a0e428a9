/**
 * Child-process entry point: runs one measurement against one store and sends the result to the
 * parent over IPC. A process per measurement keeps the stores apart (Emmett's driver layer
 * rewrites pg's global type parsers) and starts each one with a fresh heap and pool.
 * Started by `runStoreMeasurement`; not meant to be run by hand.
 */
import { performance } from "node:perf_hooks";
import { measureAppendRate } from "./measureAppendRate.ts";
import { startProcessCpuMeter } from "./processCpuMeter.ts";
import type { StoreMeasurementReply, StoreMeasurementRequest, StoreSystemName } from "./StoreMeasurement.ts";
import type { StoreUnderTest } from "./StoreUnderTest.ts";
import type { EventStoreBenchmarkConfig } from "./EventStoreBenchmarkConfig.ts";

async function openStore(
  system: StoreSystemName,
  config: EventStoreBenchmarkConfig,
): Promise<StoreUnderTest> {
  // Imported lazily so that a Tidemark process never loads Emmett's driver layer at all.
  switch (system) {
    case "tidemark":
      return (await import("./openTidemarkStore.ts")).openTidemarkStore(config);
    case "emmett":
      return (await import("./openEmmettStore.ts")).openEmmettStore(config);
    default: {
      const unknown: never = system;
      throw new Error(`unknown store: ${String(unknown)}`);
    }
  }
}

async function measure({ system, config, task }: StoreMeasurementRequest): Promise<StoreMeasurementReply> {
  const store = await openStore(system, config);
  try {
    switch (task.kind) {
      case "appendRate":
        return { kind: "appendRate", result: await measureAppendRate(() => store.openStreamWriter(), task) };
      case "seed": {
        const startedAt = performance.now();
        // One writer, one append at a time: the log then has no interleaved transactions, which
        // keeps every store's paged read-all exact.
        for (let written = 0; written < task.events; written += task.eventsPerAppend) {
          await store.openStreamWriter().append(Math.min(task.eventsPerAppend, task.events - written));
        }
        return { kind: "seed", events: task.events, seconds: (performance.now() - startedAt) / 1000 };
      }
      case "readAll": {
        // The first pass warms PostgreSQL's buffers and the JIT; the second is the measurement.
        await store.readWholeLog();
        const cpuPercent = startProcessCpuMeter();
        const startedAt = performance.now();
        const events = await store.readWholeLog();
        const seconds = (performance.now() - startedAt) / 1000;
        return { kind: "readAll", events, seconds, clientCpuPercent: cpuPercent() };
      }
      default: {
        const unknown: never = task;
        throw new Error(`unknown task: ${JSON.stringify(unknown)}`);
      }
    }
  } finally {
    await store.close();
  }
}

function send(reply: StoreMeasurementReply): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error("measureStoreInChildProcess.ts must be started by the benchmark (it needs IPC)"));
      return;
    }
    process.send(reply, (error: Error | null) => (error === null ? resolve() : reject(error)));
  });
}

async function main(): Promise<void> {
  let reply: StoreMeasurementReply;
  try {
    const request = JSON.parse(process.argv[2] ?? "") as StoreMeasurementRequest;
    reply = await measure(request);
  } catch (error) {
    reply = {
      kind: "failed",
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
  await send(reply);
  process.exit(reply.kind === "failed" ? 1 : 0);
}

await main();
