import type pg from "pg";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/** An event waiting for its next attempt. */
export interface PendingRetry {
  readonly event: RecordedEvent;
  /** Attempts made so far. */
  readonly attempts: number;
}

/**
 * The in-process fan-out's retry queue (RabbitMQ has its TTL queues): a table
 * `<schema>.pending_retries`, one row per consumer and event, with the event, the attempts made
 * and when the next one is due. Written before the consumer's checkpoint moves past the event,
 * so a failed event waits here instead of holding up the ones behind it, and survives a restart.
 */
export class PendingRetries {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.#table = `"${schema}".pending_retries`;
  }

  /** Creates the schema and the fan-out's tables if missing (the `fanout` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "fanout", this.#schema);
  }

  /** The next attempt of `event` is due in `delayMs` (replaces an earlier schedule). */
  async schedule(
    consumer: string,
    event: RecordedEvent,
    attempts: number,
    error: string,
    delayMs: number,
  ): Promise<void> {
    await this.#pool.query(
      `insert into ${this.#table} (consumer, event_id, position, attempts, error, due_at, event)
       values ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond', $7)
       on conflict (consumer, event_id) do update
         set attempts = excluded.attempts, error = excluded.error, due_at = excluded.due_at`,
      [consumer, event.id, event.position, attempts, error, delayMs, JSON.stringify(event)],
    );
  }

  /** Up to `limit` events of `consumer` whose next attempt is due, earliest first. */
  async due(consumer: string, limit = 100): Promise<PendingRetry[]> {
    const { rows } = await this.#pool.query<{
      event: RecordedEvent & { recordedAt: string };
      attempts: number;
    }>(
      `select event, attempts from ${this.#table}
       where consumer = $1 and due_at <= now() order by due_at, position limit $2`,
      [consumer, limit],
    );
    return rows.map(({ event, attempts }) => ({
      event: { ...event, recordedAt: new Date(event.recordedAt) },
      attempts,
    }));
  }

  /** Milliseconds until the next attempt of `consumer` is due (0: now); undefined: none waiting. */
  async nextDueInMs(consumer: string): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ ms: number | null }>(
      `select greatest(0, extract(epoch from min(due_at) - now()) * 1000)::float8 as ms
       from ${this.#table} where consumer = $1`,
      [consumer],
    );
    return rows[0]?.ms ?? undefined;
  }

  async remove(consumer: string, eventId: string): Promise<void> {
    await this.#pool.query(`delete from ${this.#table} where consumer = $1 and event_id = $2`, [
      consumer,
      eventId,
    ]);
  }

  /** How many events of `consumer` (or of all) wait for another attempt. */
  async count(consumer?: string): Promise<number> {
    const { rows } = await this.#pool.query<{ count: string }>(
      `select count(*) from ${this.#table} where $1::text is null or consumer = $1`,
      [consumer ?? null],
    );
    return Number(rows[0]?.count ?? 0);
  }
}
