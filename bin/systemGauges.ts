import type { Kysely } from "kysely";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { lagBehind } from "../gateways/eventStore/lagBehind.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { comparePositions, START, type Position } from "../gateways/eventStore/Position.ts";
import type { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import type { GaugeReading, Metrics } from "../gateways/observability/Metrics.ts";
import { liveBuilds, type ProjectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";

/**
 * The gauges read at scrape time from PostgreSQL: where each reader of the log stands and how far
 * behind it is. Only the process that runs a reader registers its gauges, so a metric has one
 * source however many replicas run other roles.
 */

/** Each live read model's checkpoint (as events applied) and its lag in events and seconds. */
export function watchProjections(
  metrics: Metrics,
  context: { readonly db: Kysely<unknown>; readonly schemas: ProjectionSchemas; readonly store: EventStore },
): void {
  const counters = new Map<string, EventsUpTo>();
  const read = oncePerScrape(async () => {
    const rows: {
      projection: string;
      checkpoint: number | null;
      lagEvents: number | null;
      lagSeconds: number | null;
    }[] = [];
    for (const [projection, build] of await liveBuilds(context.db, context.schemas)) {
      const counter = counters.get(build.buildSchema) ?? new EventsUpTo(context.store);
      counters.set(build.buildSchema, counter);
      const lag = await lagBehind(context.store, build.position);
      rows.push({
        projection,
        checkpoint: await counter.at(build.position),
        lagEvents: lag.events,
        lagSeconds: lag.seconds,
      });
    }
    return rows;
  });
  const gauge = (
    name: string,
    help: string,
    value: (row: Awaited<ReturnType<typeof read>>[number]) => number | null,
  ) =>
    metrics.scrapeGauge(name, help, ["projection"], async () =>
      readings(await read(), (row) => ({ projection: row.projection }), value),
    );
  gauge(
    "tidemark_projection_checkpoint_position_events",
    "Events in the log up to the live read model's checkpoint",
    (row) => row.checkpoint,
  );
  gauge(
    "tidemark_projection_lag_events",
    "Events in the log after the live read model's checkpoint",
    (row) => row.lagEvents,
  );
  gauge(
    "tidemark_projection_lag_seconds",
    "Seconds since the oldest event the read model has not applied was recorded",
    (row) => row.lagSeconds,
  );
}

/** The relay's lag behind the log (events not yet confirmed by the broker). */
export function watchRelay(
  metrics: Metrics,
  context: { readonly checkpoints: FanoutCheckpoints; readonly name: string; readonly store: EventStore },
): void {
  const read = oncePerScrape(async () =>
    lagBehind(context.store, await context.checkpoints.read(context.name)),
  );
  metrics.scrapeGauge(
    "tidemark_relay_lag_events",
    "Events in the log the broker has not confirmed yet",
    [],
    async () =>
      readings(
        [await read()],
        () => ({}),
        (lag) => lag.events,
      ),
  );
  metrics.scrapeGauge(
    "tidemark_relay_lag_seconds",
    "Seconds since the oldest event not yet confirmed was recorded",
    [],
    async () =>
      readings(
        [await read()],
        () => ({}),
        (lag) => lag.seconds,
      ),
  );
}

/** How many dead letters each consumer holds (its `.dead` queue, or the in-process table). */
export function watchDeadLetters(
  metrics: Metrics,
  consumers: readonly string[],
  count: () => Promise<Map<string, number>>,
): void {
  metrics.scrapeGauge(
    "tidemark_dead_letters",
    "Messages a consumer gave up on, waiting to be looked at",
    ["queue"],
    async () => {
      const counts = await count();
      return consumers.map((consumer) => ({
        labels: { queue: `tidemark.${consumer}` },
        value: counts.get(consumer) ?? 0,
      }));
    },
  );
}

function readings<Row>(
  rows: readonly Row[],
  labels: (row: Row) => Record<string, string>,
  value: (row: Row) => number | null,
): GaugeReading {
  return rows.flatMap((row) => {
    const measured = value(row);
    return measured === null ? [] : [{ labels: labels(row), value: measured }];
  });
}

/** One read of the database per scrape, however many gauges share it. */
function oncePerScrape<T>(read: () => Promise<T>, forMs = 1000): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (cached === undefined || now - cached.at > forMs) {
      const value = read();
      cached = { at: now, value };
      value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}

/**
 * Events up to a moving checkpoint, counted in full once and then by the difference between
 * checkpoints, so a scrape costs what the reader advanced, not the log's length.
 */
class EventsUpTo {
  readonly #store: EventStore;
  #known: { position: Position; events: number } | undefined;

  constructor(store: EventStore) {
    this.#store = store;
  }

  async at(position: Position): Promise<number | null> {
    if (!(this.#store instanceof PostgresEventStore)) return null;
    const store = this.#store;
    if (this.#known === undefined || comparePositions(position, this.#known.position) < 0) {
      this.#known = { position, events: await store.countBetween(START, position) };
    } else if (position !== this.#known.position) {
      const advanced = await store.countBetween(this.#known.position, position);
      this.#known = { position, events: this.#known.events + advanced };
    }
    return this.#known.events;
  }
}
