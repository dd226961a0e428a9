import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { lagBehind } from "../../gateways/eventStore/lagBehind.ts";
import { START } from "../../gateways/eventStore/Position.ts";
import type { ProjectionProgress } from "./runProjections.ts";

/**
 * How far a rebuild has read the log: events read (of every type, as the runner counts them), out
 * of the events in the log when it started (where the store can count them), and how fast. Fed
 * with the runner's progress; what the CLI's progress bar and the query API's rebuilds report.
 */
export class RebuildProgress {
  /** Events in the log when the rebuild started; undefined where the store cannot count (EventStoreDB). */
  readonly total: number | undefined;
  readonly startedAt: number;
  #read = 0;

  constructor(total: number | undefined, startedAt: number) {
    this.total = total;
    this.startedAt = startedAt;
  }

  /** A rebuild starting now, its total counted in `store`. */
  static async counting(store: EventStore, now: () => number = Date.now): Promise<RebuildProgress> {
    const { events } = await lagBehind(store, START);
    return new RebuildProgress(events ?? undefined, now());
  }

  update(progress: ProjectionProgress): void {
    // Each build's report counts the same read: the furthest is where the rebuild stands.
    this.#read = Math.max(this.#read, progress.read);
  }

  get read(): number {
    return this.#read;
  }

  /** From 0 to 1 (the log may grow while it runs: capped at 1); undefined without a total. */
  get fraction(): number | undefined {
    if (this.total === undefined || this.total === 0) return undefined;
    return Math.min(1, this.#read / this.total);
  }

  eventsPerSecond(now: number): number {
    return this.#read / Math.max((now - this.startedAt) / 1000, 0.001);
  }

  /** Seconds left at the rate so far; undefined without a total or before the first event. */
  secondsLeft(now: number): number | undefined {
    const rate = this.eventsPerSecond(now);
    if (this.total === undefined || rate === 0) return undefined;
    return Math.max(0, this.total - this.#read) / rate;
  }
}
