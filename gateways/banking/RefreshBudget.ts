import type pg from "pg";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/**
 * The per-account daily budget of unattended balance reads (PSD2 allows four a day without the
 * customer present): a table `<schema>.refresh_reads` with one row per read claimed, keyed by the
 * refresh request's event id, so a redelivered request finds its claim instead of taking another.
 */
export class RefreshBudget {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;
  readonly #perDay: number;

  constructor(pool: pg.Pool, schema: string, perDay = 4) {
    this.#pool = pool;
    this.#schema = schema;
    this.#table = `"${schema}".refresh_reads`;
    this.#perDay = perDay;
  }

  /** Creates the schema and table if missing (the `banking` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "banking", this.#schema);
  }

  /**
   * Claims one of the account's reads for `day` (UTC, `YYYY-MM-DD`) for the request `eventId`:
   * true when it is within the budget (or was claimed by this very request before). Claims of one
   * account are serialised by an advisory lock, so two requests never both take the last read.
   */
  async claim(accountId: string, day: string, eventId: string): Promise<boolean> {
    const client = await this.#pool.connect();
    try {
      await client.query("begin");
      await client.query("select pg_advisory_xact_lock(hashtext($1))", [
        `${this.#schema}:${accountId}:${day}`,
      ]);
      const { rows } = await client.query<{ mine: boolean; used: string }>(
        `select bool_or(event_id = $3) as mine, count(*) as used from ${this.#table} where account_id = $1 and day = $2`,
        [accountId, day, eventId],
      );
      const mine = rows[0]?.mine === true;
      const used = Number(rows[0]?.used ?? 0);
      if (!mine && used >= this.#perDay) {
        await client.query("rollback");
        return false;
      }
      if (!mine) {
        await client.query(`insert into ${this.#table} (account_id, day, event_id) values ($1, $2, $3)`, [
          accountId,
          day,
          eventId,
        ]);
      }
      await client.query("commit");
      return true;
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
