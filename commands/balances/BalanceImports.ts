import { randomUUID } from "node:crypto";
import type pg from "pg";
import { emptyCounts, type BadRow, type ImportCounts } from "./importBalanceRows.ts";
import type { BalanceFileFormat } from "./balanceFileRows.ts";

/** Bad rows kept per batch, each with its line and reason; the counts cover them all. */
export const KEPT_BAD_ROWS = 1000;

/** A bulk balance file's import, as recorded: what it is, how far it got, how its rows ended. */
export interface BalanceImport {
  readonly batchId: string;
  /** SHA-256 of the file as sent (compressed or not): the same file is the same batch. */
  readonly fileDigest: string;
  readonly fileName: string;
  readonly format: BalanceFileFormat;
  readonly requestedBy: string;
  /** `running` also for an import whose process stopped: the next import of the file resumes it. */
  readonly status: "running" | "done" | "failed";
  /** Every row up to this one is done; an import resumed goes on after it. */
  readonly committedRow: number;
  readonly counts: ImportCounts;
  /** The first `KEPT_BAD_ROWS` bad rows, in file order. */
  readonly badRows: readonly BadRow[];
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
  readonly error: string | null;
}

interface ImportRow {
  batch_id: string;
  file_digest: string;
  file_name: string;
  format: BalanceFileFormat;
  requested_by: string;
  status: BalanceImport["status"];
  committed_row: string;
  rows: string;
  recorded: string;
  unchanged: string;
  refused: string;
  invalid: string;
  bad_rows: BadRow[];
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  error: string | null;
}

/**
 * The record of bulk balance imports, in `<schema>.balance_imports`: any process answers how one
 * stands, and an import that stopped (a crash, a lost connection) resumes from its committed row.
 */
export class BalanceImports {
  readonly #table: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.#table = `"${schema}".balance_imports`;
    this.schema = schema;
  }

  readonly schema: string;

  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      // The projector's registry lock: it may be creating the same schema at this moment, and
      // "if not exists" alone is not safe against a concurrent creation.
      await client.query("select pg_advisory_xact_lock(hashtext($1))", [`${this.schema}:registry`]);
      await client.query(`create schema if not exists "${this.schema}"`);
      await client.query(`create table if not exists ${this.#table} (
        batch_id uuid primary key,
        file_digest text not null,
        file_name text not null,
        format text not null,
        requested_by text not null,
        status text not null check (status in ('running', 'done', 'failed')),
        committed_row bigint not null default 0,
        rows bigint not null default 0,
        recorded bigint not null default 0,
        unchanged bigint not null default 0,
        refused bigint not null default 0,
        invalid bigint not null default 0,
        bad_rows jsonb not null default '[]',
        started_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        finished_at timestamptz,
        error text)`);
      // Tables made before camt reports were taken checked the format against two.
      await client.query(`alter table ${this.#table} drop constraint if exists balance_imports_format_check`);
      // One batch per file read as one format: the same bytes read as another format are other
      // rows (a file first sent with the wrong type must not be "imported already"). Tables made
      // before were unique on the digest alone.
      await client.query(
        `create unique index if not exists balance_imports_file_digest_format on ${this.#table} (file_digest, format)`,
      );
      await client.query(
        `alter table ${this.#table} drop constraint if exists balance_imports_file_digest_key`,
      );
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The batch of the file with `fileDigest` read as `format`: recorded now if it is new (`created`). */
  async open(file: {
    readonly fileDigest: string;
    readonly fileName: string;
    readonly format: BalanceFileFormat;
    readonly requestedBy: string;
  }): Promise<{ readonly batch: BalanceImport; readonly created: boolean }> {
    const inserted = await this.pool.query<ImportRow>(
      `insert into ${this.#table} (batch_id, file_digest, file_name, format, requested_by, status)
       values ($1, $2, $3, $4, $5, 'running') on conflict (file_digest, format) do nothing returning *`,
      [randomUUID(), file.fileDigest, file.fileName, file.format, file.requestedBy],
    );
    const created = inserted.rows[0];
    if (created !== undefined) return { batch: importOf(created), created: true };
    const { rows } = await this.pool.query<ImportRow>(
      `select * from ${this.#table} where file_digest = $1 and format = $2`,
      [file.fileDigest, file.format],
    );
    const existing = rows[0];
    if (existing === undefined) throw new Error(`the import of ${file.fileDigest} vanished`);
    return { batch: importOf(existing), created: false };
  }

  async find(batchId: string): Promise<BalanceImport | undefined> {
    const { rows } = await this.pool.query<ImportRow>(`select * from ${this.#table} where batch_id = $1`, [
      batchId,
    ]);
    return rows[0] === undefined ? undefined : importOf(rows[0]);
  }

  /** The latest imports, newest first, without their bad rows. */
  async list(limit: number): Promise<BalanceImport[]> {
    const { rows } = await this.pool.query<ImportRow>(
      `select *, '[]'::jsonb as bad_rows from ${this.#table} order by started_at desc limit $1`,
      [limit],
    );
    return rows.map(importOf);
  }

  /** Every row up to `committedRow` done, with these counts (the batch's, all runs together). */
  async checkpoint(
    batchId: string,
    committedRow: number,
    counts: ImportCounts,
    bad: readonly BadRow[],
  ): Promise<void> {
    await this.pool.query(
      `update ${this.#table} set committed_row = $2, rows = $3, recorded = $4, unchanged = $5,
         refused = $6, invalid = $7, status = 'running', error = null, updated_at = now(),
         bad_rows = case when jsonb_array_length(bad_rows) >= $9 then bad_rows
           else (select coalesce(jsonb_agg(value), '[]') from (
             select value from jsonb_array_elements(bad_rows || $8::jsonb) limit $9) kept) end
       where batch_id = $1`,
      [
        batchId,
        committedRow,
        counts.rows,
        counts.recorded,
        counts.unchanged,
        counts.refused,
        counts.invalid,
        JSON.stringify(bad),
        KEPT_BAD_ROWS,
      ],
    );
  }

  async finish(
    batchId: string,
    outcome: { readonly status: "done" } | { readonly status: "failed"; readonly error: string },
  ): Promise<void> {
    await this.pool.query(
      `update ${this.#table} set status = $2, error = $3, updated_at = now(),
         finished_at = case when $2 = 'done' then now() else null end where batch_id = $1`,
      [batchId, outcome.status, outcome.status === "failed" ? outcome.error : null],
    );
  }

  /**
   * Runs `work` holding the batch's lock (a session advisory lock on its own connection), so that
   * two processes never import one file at once; undefined when another holds it.
   */
  async whileHolding<T>(
    batchId: string,
    work: () => Promise<T>,
  ): Promise<{ readonly result: T } | undefined> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        "select pg_try_advisory_lock(hashtext($1)) as locked",
        [`balance-import:${batchId}`],
      );
      if (rows[0]?.locked !== true) return undefined;
      try {
        return { result: await work() };
      } finally {
        await client.query("select pg_advisory_unlock(hashtext($1))", [`balance-import:${batchId}`]);
      }
    } finally {
      client.release();
    }
  }
}

function importOf(row: ImportRow): BalanceImport {
  const counts = emptyCounts();
  counts.rows = Number(row.rows);
  counts.recorded = Number(row.recorded);
  counts.unchanged = Number(row.unchanged);
  counts.refused = Number(row.refused);
  counts.invalid = Number(row.invalid);
  return {
    batchId: row.batch_id,
    fileDigest: row.file_digest,
    fileName: row.file_name,
    format: row.format,
    requestedBy: row.requested_by,
    status: row.status,
    committedRow: Number(row.committed_row),
    counts,
    badRows: row.bad_rows,
    startedAt: row.started_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    error: row.error,
  };
}
