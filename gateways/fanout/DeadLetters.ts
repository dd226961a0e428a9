import type pg from "pg";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/** One event a consumer gave up on, with why. */
export interface DeadLetter {
  readonly consumer: string;
  readonly eventId: string;
  readonly eventType: string;
  /** The stream the event belongs to ("" when the broker's message did not say). */
  readonly streamId: string;
  readonly position: string;
  readonly attempts: number;
  readonly error: string;
  readonly failedAt: Date;
  /** When it was handed back to its consumer, which has not handled it yet (in-process fan-out only). */
  readonly requeuedAt: Date | null;
}

/**
 * The in-process fan-out's dead letters (RabbitMQ keeps its own in `<queue>.dead`): a table
 * `<schema>.dead_letters`, one row per consumer and event, with the event itself so it can be
 * handled again later.
 */
export class DeadLetters {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.#table = `"${schema}".dead_letters`;
  }

  /** Creates the schema and the fan-out's tables if missing (the `fanout` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "fanout", this.#schema);
  }

  /**
   * Marks dead letters of `consumer` to be handled again (all, or those with the given event
   * ids); the consumer's runner picks them up within seconds. Returns how many were marked.
   */
  async requeue(consumer: string, eventIds: readonly string[] | "all"): Promise<number> {
    const { rowCount } = await this.#pool.query(
      `update ${this.#table} set requeued_at = now()
       where consumer = $1 and ($2::uuid[] is null or event_id = any($2::uuid[]))`,
      [consumer, eventIds === "all" ? null : eventIds],
    );
    return rowCount ?? 0;
  }

  /** The events of `consumer` marked for another try, in log order. */
  async requeued(consumer: string): Promise<RecordedEvent[]> {
    const { rows } = await this.#pool.query<{ event: RecordedEvent & { recordedAt: string } }>(
      `select event from ${this.#table} where consumer = $1 and requeued_at is not null order by position`,
      [consumer],
    );
    return rows.map(({ event }) => ({ ...event, recordedAt: new Date(event.recordedAt) }));
  }

  /** A requeued event was handled: it is no longer dead. */
  async remove(consumer: string, eventId: string): Promise<void> {
    await this.#pool.query(`delete from ${this.#table} where consumer = $1 and event_id = $2`, [
      consumer,
      eventId,
    ]);
  }

  async record(consumer: string, event: RecordedEvent, attempts: number, error: string): Promise<void> {
    await this.#pool.query(
      `insert into ${this.#table} (consumer, event_id, event_type, position, attempts, error, event)
       values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (consumer, event_id) do update
         set attempts = excluded.attempts, error = excluded.error, failed_at = now(), requeued_at = null`,
      [consumer, event.id, event.type, event.position, attempts, error, JSON.stringify(event)],
    );
  }

  /** How many dead letters each consumer has (consumers without any are absent). */
  async countByConsumer(): Promise<Map<string, number>> {
    const { rows } = await this.#pool.query<{ consumer: string; count: string }>(
      `select consumer, count(*) as count from ${this.#table} group by consumer`,
    );
    return new Map(rows.map((row) => [row.consumer, Number(row.count)]));
  }

  /** Dead letters of `consumer` (or of every consumer), in log order per consumer; at most `limit`. */
  async list(consumer?: string, limit?: number): Promise<DeadLetter[]> {
    const { rows } = await this.#pool.query<{
      consumer: string;
      event_id: string;
      event_type: string;
      stream_id: string | null;
      position: string;
      attempts: number;
      error: string;
      failed_at: Date;
      requeued_at: Date | null;
    }>(
      `select consumer, event_id, event_type, event->>'streamId' as stream_id, position, attempts, error,
         failed_at, requeued_at
       from ${this.#table}
       where $1::text is null or consumer = $1 order by consumer, position limit $2`,
      [consumer ?? null, limit ?? null],
    );
    return rows.map((row) => ({
      consumer: row.consumer,
      eventId: row.event_id,
      eventType: row.event_type,
      streamId: row.stream_id ?? "",
      position: row.position,
      attempts: row.attempts,
      error: row.error,
      failedAt: row.failed_at,
      requeuedAt: row.requeued_at,
    }));
  }
}
