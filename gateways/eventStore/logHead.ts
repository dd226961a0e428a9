import type { EventStore } from "./EventStore.ts";
import { PostgresEventStore } from "./postgres/PostgresEventStore.ts";
import type { Position } from "./Position.ts";

/**
 * The position of the last event in the log, or null when the log is empty or the store cannot
 * say cheaply (EventStoreDB: the port reads forwards only).
 */
export async function logHead(store: EventStore): Promise<Position | null> {
  if (!(store instanceof PostgresEventStore)) return null;
  return (await store.head()) ?? null;
}
