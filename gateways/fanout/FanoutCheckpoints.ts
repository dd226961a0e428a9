import type pg from "pg";
import { parsePosition, START, type Position } from "../eventStore/Position.ts";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/**
 * Where the relay (and each in-process consumer) keeps how far into the log it has handed
 * events on: one row per name in `<schema>.checkpoints`. Written by the single lease holder.
 */
export class FanoutCheckpoints {
  readonly #pool: pg.Pool;
  readonly #table: string;
  readonly #schema: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.#table = `"${schema}".checkpoints`;
  }

  /** The schema the checkpoints live in: also scopes the relay's lease to this deployment. */
  get schema(): string {
    return this.#schema;
  }

  /** Creates the schema and the fan-out's tables if missing (the `fanout` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "fanout", this.#schema);
  }

  /** The stored position, or the start of the log when there is none yet. */
  async read(name: string): Promise<Position> {
    const { rows } = await this.#pool.query<{ position: string }>(
      `select position from ${this.#table} where name = $1`,
      [name],
    );
    const stored = rows[0]?.position;
    if (stored === undefined) return START;
    const position = parsePosition(stored);
    if (position === undefined) throw new Error(`checkpoint ${name} holds no position: ${stored}`);
    return position;
  }

  async save(name: string, position: Position): Promise<void> {
    await this.#pool.query(
      `insert into ${this.#table} (name, position) values ($1, $2)
       on conflict (name) do update set position = excluded.position, updated_at = now()`,
      [name, position],
    );
  }
}
