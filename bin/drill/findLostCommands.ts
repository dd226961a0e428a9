import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { AcknowledgedCommand } from "./CommandWorkload.ts";

/** Acknowledged commands whose events the log no longer has: the recovery point's cost. */
export interface LostCommands {
  readonly commands: number;
  readonly events: number;
  /** When the earliest lost command was acknowledged; null when none is lost. */
  readonly earliestAcknowledgedAtMs: number | null;
  /** A few of them, `stream@revision`, for the report. */
  readonly examples: readonly string[];
}

/**
 * Which acknowledged commands are missing from `store` (the promoted replica's log): a command is
 * lost when its stream ends before the revision its answer gave. Appends are all-or-nothing and
 * each stream had one writer waiting for every answer, so that is exact.
 */
export async function findLostCommands(
  store: EventStore,
  acknowledged: readonly AcknowledgedCommand[],
): Promise<LostCommands> {
  const streams = [...new Set(acknowledged.map((command) => command.streamId))];
  const lastRevision = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < streams.length) {
        const streamId = streams[next++];
        if (streamId === undefined) continue;
        let revision = -1;
        for await (const event of store.readStream(streamId, { direction: "backwards", maxCount: 1 })) {
          revision = event.revision;
        }
        lastRevision.set(streamId, revision);
      }
    }),
  );
  const lost = acknowledged.filter(
    (command) => command.revision > (lastRevision.get(command.streamId) ?? -1),
  );
  return {
    commands: lost.length,
    events: lost.reduce((sum, command) => sum + command.events, 0),
    earliestAcknowledgedAtMs: lost.length === 0 ? null : Math.min(...lost.map((c) => c.acknowledgedAtMs)),
    examples: lost.slice(0, 5).map((command) => `${command.streamId}@${command.revision}`),
  };
}
