import { sql, type QueryExecutorProvider, type RawBuilder } from "kysely";

/**
 * Set-based writes for projections: a whole batch's rows for a table go to PostgreSQL as one JSON
 * parameter (`jsonb_populate_recordset` converts each field with the column's own type), so a
 * batch costs one statement whatever its size, and no parameter limit applies. A projection
 * returns its writes; `writeStatement` sends them all as one statement, after the checkpoint's
 * guard when the runner gives one.
 */

/** Rows for one table (unqualified: the build's schema is added when written) and how they land. */
export interface RowWrite {
  readonly table: string;
  /** Rows of one shape (the same columns, those of the first row); bigint values as strings. */
  readonly rows: readonly object[];
  readonly mode: WriteMode;
}

/**
 * insert: append-only rows. upsert: insert, or replace the row with the same key columns.
 * add: every column outside the key is a counter, added to the stored row's (inserted when new).
 */
export type WriteMode =
  | { readonly kind: "insert" }
  | { readonly kind: "upsert"; readonly key: readonly string[] }
  | { readonly kind: "add"; readonly key: readonly string[] };

/** Inserts `rows`, or updates the row with the same `key` columns (none when `rows` is empty). */
export function upsertRows(table: string, key: readonly string[], rows: readonly object[]): RowWrite[] {
  return rows.length === 0 ? [] : [{ table, rows, mode: { kind: "upsert", key } }];
}

/** Inserts `rows` (append-only tables). */
export function insertRows(table: string, rows: readonly object[]): RowWrite[] {
  return rows.length === 0 ? [] : [{ table, rows, mode: { kind: "insert" } }];
}

/**
 * Adds each row's counters to the stored row with the same `key` columns, inserting rows not
 * there yet: a batch's counts land without reading the table first. Keys must be distinct.
 */
export function addToCounters(table: string, key: readonly string[], rows: readonly object[]): RowWrite[] {
  return rows.length === 0 ? [] : [{ table, rows, mode: { kind: "add", key } }];
}

/**
 * One statement for all `writes` into `schema`. With a `guard` (a data-modifying statement with
 * `returning`), the writes happen only if the guard returned a row, and the statement returns the
 * guard's rows; as a single statement it commits (or fails) as a whole. Without writes and guard
 * there is nothing to send.
 */
export function writeStatement(
  schema: string,
  writes: readonly RowWrite[],
  guard?: RawBuilder<unknown>,
): RawBuilder<unknown> | undefined {
  const onlyIfGuarded = guard === undefined ? sql`` : sql`where exists (select from guard)`;
  const parts = writes.map((write) => insertStatement(schema, write, onlyIfGuarded));
  if (guard === undefined) {
    if (parts.length <= 1) return parts[0];
    return sql`with ${sql.join(parts.map((part, index) => sql`${sql.ref(`w${index}`)} as (${part})`))} select 1`;
  }
  return afterGuard(guard, parts);
}

/** One build's writes, in a statement that writes several builds. */
export interface BuildWrites {
  readonly schema: string;
  readonly writes: readonly RowWrite[];
}

/**
 * One statement for the writes of several builds: `guard` (a data-modifying statement returning
 * the `build_schema` of each build it lets through) first, then each build's writes, which happen
 * only if the guard returned that build. Returns the guard's rows; as one statement it commits (or
 * fails) as a whole.
 */
export function buildsWriteStatement(
  guard: RawBuilder<unknown>,
  builds: readonly BuildWrites[],
): RawBuilder<unknown> {
  const parts = builds.flatMap((build) =>
    build.writes.map((write) =>
      insertStatement(
        build.schema,
        write,
        sql`where exists (select from guard where build_schema = ${build.schema})`,
      ),
    ),
  );
  return afterGuard(guard, parts);
}

/** `guard`, then each of `parts` (written to look at `guard`), as one statement returning the guard's rows. */
function afterGuard(guard: RawBuilder<unknown>, parts: readonly RawBuilder<unknown>[]): RawBuilder<unknown> {
  return sql`with ${sql.join([
    sql`guard as (${guard})`,
    ...parts.map((part, index) => sql`${sql.ref(`w${index}`)} as (${part})`),
  ])} select * from guard`;
}

/** Sends `writes` as one statement through `db` (a transaction, or a connection in autocommit). */
export async function executeWrites(
  db: QueryExecutorProvider,
  schema: string,
  writes: readonly RowWrite[],
): Promise<void> {
  await writeStatement(schema, writes)?.execute(db);
}

function insertStatement(schema: string, write: RowWrite, where: RawBuilder<unknown>): RawBuilder<unknown> {
  const columns = Object.keys(write.rows[0] ?? {});
  const target = sql.table(`${schema}.${write.table}`);
  return sql`
    insert into ${target} as stored (${refs(columns)})
    select ${refs(columns)} from jsonb_populate_recordset(null::${target}, ${JSON.stringify(write.rows)}::jsonb)
    ${where}
    ${onConflict(write.mode, columns)}
  `;
}

function onConflict(mode: WriteMode, columns: readonly string[]): RawBuilder<unknown> {
  switch (mode.kind) {
    case "insert":
      return sql``;
    case "upsert": {
      const updates = columns.filter((column) => !mode.key.includes(column));
      return updates.length === 0
        ? sql`on conflict (${refs(mode.key)}) do nothing`
        : sql`on conflict (${refs(mode.key)}) do update set ${sql.join(
            updates.map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`),
          )}`;
    }
    case "add":
      return sql`on conflict (${refs(mode.key)}) do update set ${sql.join(
        columns
          .filter((column) => !mode.key.includes(column))
          .map((column) => sql`${sql.ref(column)} = stored.${sql.ref(column)} + excluded.${sql.ref(column)}`),
      )}`;
    default: {
      const unknown: never = mode;
      throw new Error(`unknown write mode ${JSON.stringify(unknown)}`);
    }
  }
}

function refs(columns: readonly string[]): RawBuilder<unknown> {
  return sql.join(columns.map((column) => sql.ref(column)));
}
