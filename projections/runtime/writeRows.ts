import { sql, type RawBuilder, type Transaction } from "kysely";

/**
 * Set-based writes for projections: a whole batch's rows go to PostgreSQL as one JSON parameter
 * (`jsonb_populate_recordset` converts each field with the column's own type), so a batch costs
 * one round trip per table whatever its size, and no parameter limit applies. Rows of one call
 * must share their columns; bigint values travel as strings.
 */

/** Inserts `rows`, or updates the row with the same `key` columns. */
export async function upsertRows(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  key: readonly string[],
  rows: readonly object[],
): Promise<void> {
  await writeRows(trx, schema, table, rows, (columns) => {
    const updates = columns.filter((column) => !key.includes(column));
    return updates.length === 0
      ? sql`on conflict (${refs(key)}) do nothing`
      : sql`on conflict (${refs(key)}) do update set ${sql.join(
          updates.map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`),
        )}`;
  });
}

/** Inserts `rows` (append-only tables). */
export async function insertRows(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  rows: readonly object[],
): Promise<void> {
  await writeRows(trx, schema, table, rows, () => sql``);
}

/**
 * Adds each row's counters to the stored row with the same `key` columns, inserting rows not
 * there yet: a batch's counts land without reading the table first. Every column outside `key`
 * is a counter; keys must be distinct within the call.
 */
export async function addToCounters(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  key: readonly string[],
  rows: readonly object[],
): Promise<void> {
  await writeRows(
    trx,
    schema,
    table,
    rows,
    (columns) =>
      sql`on conflict (${refs(key)}) do update set ${sql.join(
        columns
          .filter((column) => !key.includes(column))
          .map((column) => sql`${sql.ref(column)} = stored.${sql.ref(column)} + excluded.${sql.ref(column)}`),
      )}`,
  );
}

async function writeRows(
  trx: Transaction<unknown>,
  schema: string,
  table: string,
  rows: readonly object[],
  onConflict: (columns: readonly string[]) => RawBuilder<unknown>,
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const target = sql.table(`${schema}.${table}`);
  await sql`
    insert into ${target} as stored (${refs(columns)})
    select ${refs(columns)} from jsonb_populate_recordset(null::${target}, ${JSON.stringify(rows)}::jsonb)
    ${onConflict(columns)}
  `.execute(trx);
}

function refs(columns: readonly string[]): RawBuilder<unknown> {
  return sql.join(columns.map((column) => sql.ref(column)));
}
