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
  readonly #claimFunction: string;
  readonly #perDay: number;

  constructor(pool: pg.Pool, schema: string, perDay = 4) {
    this.#pool = pool;
    this.#schema = schema;
    this.#claimFunction = `"${schema}".claim_refresh_read`;
    this.#perDay = perDay;
  }

  /** Creates the schema and table if missing (the `banking` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "banking", this.#schema);
  }

  /**
   * Claims one of the account's reads for `day` (UTC, `YYYY-MM-DD`) for the request `eventId`:
   * true when it is within the budget (or was claimed by this very request before). Claims of one
   * account are serialised by an advisory lock, so two requests never both take the last read;
   * one statement (`claim_refresh_read`, made at start-up: `operationalAdditions`), one round trip.
   */
  async claim(accountId: string, day: string, eventId: string): Promise<boolean> {
    const { rows } = await this.#pool.query<{ granted: boolean }>(
      `select ${this.#claimFunction}($1, $2, $3, $4) as granted`,
      [accountId, day, eventId, this.#perDay],
    );
    return rows[0]?.granted === true;
  }
}
