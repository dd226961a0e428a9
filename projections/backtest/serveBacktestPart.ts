import { once } from "node:events";
import { parentPort, workerData } from "node:worker_threads";
import { BacktestReplay } from "../../domain/backtest/BacktestReplay.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { FinishMessage, PartAssignment, PartMessage } from "./backtestThreads.ts";

/** An event store a part's thread opened, and how it lets it go. */
export interface OpenedStore {
  readonly store: EventStore;
  close(): Promise<void>;
}

/**
 * The work of one part's thread (`replayInThreads`): opens the store as `assignment.store`
 * describes it, replays its part of the shared snapshot, says where its log ended, and, told the
 * whole log's end, sends its result. Call it from a worker thread's entry module.
 */
export async function serveBacktestPart(open: (store: unknown) => Promise<OpenedStore>): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("serveBacktestPart runs in a worker thread of replayInThreads");
  const assignment = workerData as PartAssignment;
  const send = (message: PartMessage) => port.postMessage(message);
  const opened = await open(assignment.store);
  try {
    const replay = new BacktestReplay(assignment.options);
    for await (const batch of opened.store.readLogSnapshot({
      types: assignment.types,
      part: assignment.part,
    })) {
      for (const event of batch) replay.apply(event);
      send({ kind: "progress", balances: replay.balancesReplayed });
    }
    send({ kind: "replayed", latestBalanceMs: replay.latestBalanceMs });
    const [finish] = (await once(port, "message")) as [FinishMessage];
    send({ kind: "result", result: replay.result(finish.endMs) });
  } finally {
    await opened.close();
  }
}
