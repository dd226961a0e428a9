import { sql, type Transaction } from "kysely";

/**
 * Adds each row's counters to the stored row with the same `key` columns, inserting rows not there
 * yet: a batch's counts land in one round trip without reading the table first. Every column
 * outside `key` is a counter. Rows must share their columns and have distinct keys. Like
 * `upsertRows` (runtime/writeRows.ts), the rows travel as one JSON parameter.
 */
export async function addToCounters(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  key: readonly string[],
  rows: readonly object[],
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const counters = columns.filter((column) => !key.includes(column));
  await sql`
    insert into ${sql.table(`${schema}.${table}`)} as stored (${sql.join(columns.map((column) => sql.ref(column)))})
    select ${sql.join(columns.map((column) => sql.ref(column)))}
    from jsonb_populate_recordset(null::${sql.table(`${schema}.${table}`)}, ${JSON.stringify(rows)}::jsonb)
    on conflict (${sql.join(key.map((column) => sql.ref(column)))}) do update set ${sql.join(
      counters.map(
        (column) => sql`${sql.ref(column)} = stored.${sql.ref(column)} + excluded.${sql.ref(column)}`,
      ),
    )}
  `.execute(trx);
}
