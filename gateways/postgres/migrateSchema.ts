import { setTimeout as sleep } from "node:timers/promises";
import { Kysely, Migrator, PostgresDialect, type Migration } from "kysely";
import type pg from "pg";

const DUPLICATE_KEY = "23505";
const INVALID_SCHEMA_NAME = "3F000";
const UNDEFINED_TABLE = "42P01";

/** One migration history: its migrations, and the record of those run (`<schema>.<history>`). */
export interface MigrationHistory {
  /** The schema holding the tables and the record (created if missing). */
  readonly schema: string;
  /** The record's table; its lock table is `<history>_lock`. */
  readonly history: string;
  /** Run in name order, each once per schema. */
  readonly migrations: Record<string, Migration>;
}

/**
 * Migrations recorded in the history that `migrations` does not know: run by a newer version (this
 * one is an older one started again, in a rollback or a restart during an upgrade). Each is given
 * as done already (a no-op), so that the migrator, which refuses a history with migrations it
 * cannot find, lets this version start. Its own migrations all come before those (names sort by
 * their number), so nothing of its own is left undone.
 */
async function recordedByNewerVersions(
  pool: pg.Pool,
  schema: string,
  history: string,
  migrations: Record<string, Migration>,
): Promise<Record<string, Migration>> {
  const { rows } = await pool
    .query<{ name: string }>(`select name from "${schema}"."${history}"`)
    .catch((error: unknown) => {
      if ((error as { code?: unknown }).code === UNDEFINED_TABLE) return { rows: [] }; // a fresh schema
      throw error;
    });
  const doneElsewhere: Migration = { up: () => Promise.resolve() };
  return Object.fromEntries(
    rows.filter((row) => !(row.name in migrations)).map((row) => [row.name, doneElsewhere]),
  );
}

/**
 * Brings `schema` up to date with kysely's `Migrator`: the migrations not yet recorded in
 * `<schema>.<history>` run in name order, in one transaction under the record's lock, so several
 * processes may migrate at once (one runs them, the others then find them recorded).
 */
export async function migrateSchema(
  pool: pg.Pool,
  { schema, history, migrations }: MigrationHistory,
): Promise<void> {
  const migratorWith = (all: Record<string, Migration>) =>
    new Migrator({
      db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
      provider: { getMigrations: () => Promise.resolve(all) },
      migrationTableSchema: schema,
      migrationTableName: history,
      migrationLockTableName: `${history}_lock`,
    });
  // The record lives in the schema, so the schema must exist before the migrator looks.
  await pool.query(`create schema if not exists "${schema}"`).catch((error: unknown) => {
    if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error; // created beside us
  });
  for (let attempt = 1; ; attempt += 1) {
    // Read before the migrator takes its connection and lock (a pool of one would wait on itself).
    const newer = await recordedByNewerVersions(pool, schema, history, migrations);
    const { error } = await migratorWith({ ...newer, ...migrations }).migrateToLatest();
    if (error === undefined) return;
    // A newer version recorded a migration between that read and the migrator's: read again.
    if (error instanceof Error && error.message.startsWith("corrupted migrations") && attempt < 10) continue;
    // The migrator lists every schema's tables; a schema or table dropped meanwhile by someone
    // else (3F000 invalid_schema_name, 42P01 undefined_table) fails that listing, not our
    // migration: look again.
    const code = (error as { code?: unknown }).code;
    if ((code === INVALID_SCHEMA_NAME || code === UNDEFINED_TABLE) && attempt < 10) {
      await sleep(25 * attempt); // the other side's drop takes a moment to commit
      continue;
    }
    throw error instanceof Error
      ? error
      : new Error(`migration of ${schema}.${history} failed`, { cause: error });
  }
}
