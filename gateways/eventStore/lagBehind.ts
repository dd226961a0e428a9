import type { EventStore } from "./EventStore.ts";
import { PostgresEventStore } from "./postgres/PostgresEventStore.ts";
import type { Position } from "./Position.ts";

/** How far a reader at a position is behind the log's head. */
export interface Lag {
  /** Events after the position; `null` where the store cannot count them (EventStoreDB). */
  readonly events: number | null;
  /** Seconds since the first of them was recorded (0 when none); `null` as above. */
  readonly seconds: number | null;
}

/** The lag of a reader (a projection, the relay) whose checkpoint is `position`. */
export async function lagBehind(store: EventStore, position: Position, now = Date.now()): Promise<Lag> {
  if (!(store instanceof PostgresEventStore)) return { events: null, seconds: null };
  const events = await store.countAfter(position);
  // Not a read of the log: behind a long open transaction a read waits, and the lag is wanted then most.
  const oldestUnread = events > 0 ? await store.firstRecordedAfter(position) : undefined;
  const seconds = oldestUnread === undefined ? 0 : Math.max(0, (now - oldestUnread.getTime()) / 1000);
  return { events, seconds };
}
