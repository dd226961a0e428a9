import { sql, type Transaction } from "kysely";

/**
 * Set-based writes for projections: a whole batch's rows go to PostgreSQL as one JSON parameter
 * (`jsonb_populate_recordset` converts each field with the column's own type), so a batch costs
 * one round trip per table whatever its size, and no parameter limit applies.
 */

/** Inserts `rows`, or updates the row with the same `key` columns. Rows must share their columns. */
export async function upsertRows(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  key: readonly string[],
  rows: readonly object[],
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const updates = columns.filter((column) => !key.includes(column));
  const onConflict =
    updates.length === 0
      ? sql`do nothing`
      : sql`do update set ${sql.join(updates.map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`))}`;
  await sql`
    insert into ${sql.table(`${schema}.${table}`)} (${sql.join(columns.map((column) => sql.ref(column)))})
    select ${sql.join(columns.map((column) => sql.ref(column)))}
    from jsonb_populate_recordset(null::${sql.table(`${schema}.${table}`)}, ${JSON.stringify(rows)}::jsonb)
    on conflict (${sql.join(key.map((column) => sql.ref(column)))}) ${onConflict}
  `.execute(trx);
}

/** Inserts `rows` (append-only tables). Rows must share their columns. */
export async function insertRows(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  rows: readonly object[],
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  await sql`
    insert into ${sql.table(`${schema}.${table}`)} (${sql.join(columns.map((column) => sql.ref(column)))})
    select ${sql.join(columns.map((column) => sql.ref(column)))}
    from jsonb_populate_recordset(null::${sql.table(`${schema}.${table}`)}, ${JSON.stringify(rows)}::jsonb)
  `.execute(trx);
}
