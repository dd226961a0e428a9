import type pg from "pg";

/**
 * Drops the schema `prefix` and every schema named `<prefix>_…` (an event store schema and the
 * runtime, read and build schemas of its projections), so a benchmark leaves nothing behind.
 * Returns the names dropped.
 */
export async function dropSchemasWithPrefix(pool: pg.Pool, prefix: string): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `select nspname as name from pg_namespace
      where nspname = $1 or left(nspname, length($1) + 1) = $1 || '_' order by nspname`,
    [prefix],
  );
  for (const { name } of rows) await pool.query(`drop schema if exists "${name}" cascade`);
  return rows.map((row) => row.name);
}
