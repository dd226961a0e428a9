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
  let seconds = 0;
  if (events > 0) {
    for await (const oldestUnread of store.readAll(position, { maxCount: 1 })) {
      seconds = Math.max(0, (now - oldestUnread.recordedAt.getTime()) / 1000);
    }
  }
  return { events, seconds };
}
