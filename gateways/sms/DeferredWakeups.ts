import type pg from "pg";
import type { Instant } from "../../domain/values/Instant.ts";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/**
 * When deferred notifications are due again: a table `<schema>.deferred_wakeups`, so a restart
 * keeps every timer. The SMS gateway adds one when it defers; the wake-up loop takes the due ones.
 */
export class DeferredWakeups {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.#table = `"${schema}".deferred_wakeups`;
  }

  /** Creates the schema and table if missing (the `sms` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "sms", this.#schema);
  }

  async schedule(notificationId: string, dueAt: Instant): Promise<void> {
    await this.#pool.query(
      `insert into ${this.#table} (notification_id, due_at) values ($1, $2)
       on conflict (notification_id) do update set due_at = excluded.due_at`,
      [notificationId, dueAt],
    );
  }

  /** The notifications due at `now`, earliest first. */
  async due(now: Instant, limit: number): Promise<string[]> {
    const { rows } = await this.#pool.query<{ notification_id: string }>(
      `select notification_id from ${this.#table} where due_at <= $1 order by due_at, notification_id limit $2`,
      [now, limit],
    );
    return rows.map((row) => row.notification_id);
  }

  /** Woken, unless it was scheduled again meanwhile for later than `now`. */
  async done(notificationId: string, now: Instant): Promise<void> {
    await this.#pool.query(`delete from ${this.#table} where notification_id = $1 and due_at <= $2`, [
      notificationId,
      now,
    ]);
  }
}
