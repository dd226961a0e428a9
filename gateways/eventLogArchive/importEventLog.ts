import type pg from "pg";
import { notificationChannel } from "../eventStore/postgres/eventStoreMigrations.ts";
import { PostgresEventStore } from "../eventStore/postgres/PostgresEventStore.ts";
import { parsePosition, positionParts } from "../eventStore/Position.ts";
import { readManifest, type ArchiveFile, type ArchiveManifest } from "./ArchiveManifest.ts";
import type { ArchivedEvent } from "./ArchivedEvent.ts";
import { checkArchive } from "./checkArchive.ts";
import { readArchiveFile } from "./readArchiveFile.ts";

export interface ImportOptions {
  readonly pool: pg.Pool;
  /** The PostgreSQL event store's schema (migrated here if need be). */
  readonly schema: string;
  readonly directory: string;
  /**
   * Import an archive whose streams are not all in revision order in the log (written by a
   * version before the store's migration 0004), keeping the order it had; see `checkArchive`.
   */
  readonly allowRevisionInversions?: boolean;
  /**
   * Import an archive in which an event id stands twice (a log written by a version before the
   * store's migration 0004), keeping both: the store's unique index then covers only events
   * appended after the import, as in a store migrated with such a log (see migration 0004).
   */
  readonly allowDuplicateEventIds?: boolean;
  readonly onProgress?: (progress: ImportProgress) => void;
}

export interface ImportProgress {
  readonly phase: "checking" | "importing";
  readonly events: number;
  readonly total: number;
}

export interface ImportResult {
  readonly events: number;
  readonly files: number;
  readonly streams: number;
  /** Files an earlier, stopped import of the same archive had already written. */
  readonly skippedFiles: number;
  /** Events that came before an earlier revision of their stream, kept so (recorded in log_anomalies). */
  readonly inversions: number;
}

/** The target store cannot take this archive (not empty, another archive's import half done). */
export class ImportRefusedError extends Error {
  readonly code = "import_refused";
}

const ROWS_PER_STATEMENT = 2000;
// An import holds this advisory lock (with hashtext(schema)) so that two never interleave.
const IMPORT_LOCK_CLASS = 0x696d7074; // "impt"

/**
 * Imports an archive into an empty PostgreSQL event store, keeping every event as it was: id,
 * stream, revision, data, metadata, time and **position** (so checkpoints, cursors and read
 * models built from the source stay valid). The whole archive is checked first; a damaged or
 * truncated file is refused, naming the line, before anything is written. Then one transaction
 * per file writes its events, the streams' revisions and a record of the file, so an import
 * stopped anywhere resumes from the next file when run again (and a file is never half there).
 *
 * In a new cluster transaction ids start low again, below the imported positions: the first
 * file's transaction raises the log's transaction-order offset past the archive's last position,
 * so new appends sort after every imported event (see the store's migration 0002). Nothing else
 * may append to the store while it imports, nor after an import that stopped until it is run
 * again to the end: such appends are refused (migration 0003).
 */
export async function importEventLog(options: ImportOptions): Promise<ImportResult> {
  const { pool, schema } = options;
  const total = (await readManifest(options.directory)).events;
  const checked = await checkArchive(options.directory, {
    onProgress: (events) => options.onProgress?.({ phase: "checking", events, total }),
    allowRevisionInversions: options.allowRevisionInversions ?? false,
  });
  const { manifest } = checked;
  // Only once the archive has passed: a refused archive leaves the database as it found it.
  await PostgresEventStore.migrate(pool, schema);
  const table = (name: string) => `"${schema}".${name}`;

  const client = await pool.connect();
  try {
    await client.query("select pg_advisory_lock($1, hashtext($2))", [IMPORT_LOCK_CLASS, schema]);
    const imported = await filesAlreadyImported(client, schema, manifest);
    await guardTheLog(client, schema, manifest.archiveId, imported.size === 0);
    if (options.allowDuplicateEventIds === true)
      await keepDuplicateIdsOfTheArchive(client, schema, manifest.lastPosition);

    const lastPosition = manifest.lastPosition === null ? undefined : parsePosition(manifest.lastPosition);
    const [lastOrder] = lastPosition === undefined ? [0n] : positionParts(lastPosition);
    let events = [...imported.keys()].reduce(
      (sum, name) => sum + (manifest.files.find((file) => file.name === name)?.events ?? 0),
      0,
    );
    for (const file of manifest.files) {
      if (imported.has(file.name)) continue;
      await importFileAndRecordIt(client, schema, file, {
        directory: options.directory,
        archiveId: manifest.archiveId,
        lastOrder,
      });
      events += file.events;
      options.onProgress?.({ phase: "importing", events, total: manifest.events });
    }
    // Kept inversions are on record, as a migrated old log's are (see PostgresEventStore.logAnomalies).
    if (checked.inversions > 0 || options.allowDuplicateEventIds === true)
      await client.query(`select ${table("record_log_anomalies")}()`);
    // Done: appends are taken again, after every imported event.
    await client.query(`update ${table("log_origin")} set importing_archive = null`);
    // Wake live subscribers of this store, in every process (LISTEN/NOTIFY).
    await client.query("select pg_notify($1, '')", [notificationChannel(schema)]);
    return {
      events: manifest.events,
      files: manifest.files.length,
      streams: checked.streams,
      skippedFiles: imported.size,
      inversions: checked.inversions,
    };
  } finally {
    await client
      .query("select pg_advisory_unlock($1, hashtext($2))", [IMPORT_LOCK_CLASS, schema])
      .catch(() => undefined);
    client.release();
  }
}

/**
 * The files of this archive that an earlier, stopped import already wrote, by name, with their
 * SHA-256.
 * @throws ImportRefusedError when the store holds another archive's import, or files of another
 * version of this one.
 */
async function filesAlreadyImported(
  client: pg.PoolClient,
  schema: string,
  manifest: ArchiveManifest,
): Promise<Map<string, string>> {
  const done = await client.query<{ archive_id: string; file: string; sha256: string }>(
    `select archive_id, file, sha256 from "${schema}".imported_files order by file`,
  );
  const other = done.rows.find((row) => row.archive_id !== manifest.archiveId);
  if (other !== undefined) {
    throw new ImportRefusedError(
      `the store in schema ${schema} already holds an import of archive ${other.archive_id}; import into an empty store`,
    );
  }
  const imported = new Map(done.rows.map((row) => [row.file, row.sha256]));
  for (const [name, sha256] of imported) {
    const listed = manifest.files.find((file) => file.name === name);
    if (listed === undefined || listed.sha256 !== sha256) {
      throw new ImportRefusedError(
        `${name} was imported from a different version of archive ${manifest.archiveId}`,
      );
    }
  }
  return imported;
}

/**
 * One file in one transaction: past the import guard, with the log's transaction-order offset
 * raised past the archive's last order, its events and streams written and the file recorded
 * as imported, so a file is never half there.
 */
async function importFileAndRecordIt(
  client: pg.PoolClient,
  schema: string,
  file: ArchiveFile,
  archive: { readonly directory: string; readonly archiveId: string; readonly lastOrder: bigint },
): Promise<void> {
  await client.query("begin");
  try {
    // The guard lets this transaction's rows through, and only its.
    await client.query("select set_config('tidemark.importing_archive', $1, true)", [archive.archiveId]);
    await client.query(
      `update "${schema}".log_origin set transaction_order_offset = greatest(transaction_order_offset, $1::bigint)`,
      [(archive.lastOrder + 1n).toString()],
    );
    await importFile(client, schema, archive.directory, file);
    await client.query(
      `insert into "${schema}".imported_files (archive_id, file, sha256, events) values ($1, $2, $3, $4)`,
      [archive.archiveId, file.name, file.sha256, file.events],
    );
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/**
 * Marks the log as being imported from `archiveId` (migration 0003: every other write is then
 * refused until the import ends), after waiting for appends under way to finish (the table lock)
 * and, for an import that has written nothing yet, checking that the store is still empty. An
 * append that committed first is seen by that check; one that inserts later meets the mark.
 * @throws ImportRefusedError when the store holds events, or another archive's import is half done.
 */
async function guardTheLog(
  client: pg.PoolClient,
  schema: string,
  archiveId: string,
  mustBeEmpty: boolean,
): Promise<void> {
  await client.query("begin");
  try {
    await client.query(`lock table "${schema}".events in share mode`);
    const { rows } = await client.query<{ importing_archive: string | null; any_event: boolean }>(
      `select importing_archive, exists (select 1 from "${schema}".events) as any_event
         from "${schema}".log_origin`,
    );
    const importing = rows[0]?.importing_archive ?? null;
    if (importing !== null && importing !== archiveId) {
      throw new ImportRefusedError(
        `the import of archive ${importing} into schema ${schema} has not finished; run it again to finish it`,
      );
    }
    if (mustBeEmpty && rows[0]?.any_event === true) {
      throw new ImportRefusedError(
        `the store in schema ${schema} already holds events; import into an empty store`,
      );
    }
    await client.query(`update "${schema}".log_origin set importing_archive = $1`, [archiveId]);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/** One file's events, a few thousand rows per statement, inside the caller's transaction. */
async function importFile(
  client: pg.PoolClient,
  schema: string,
  directory: string,
  file: ArchiveFile,
): Promise<void> {
  let rows: ArchivedEvent[] = [];
  let highestSequence = 0n;
  const flush = async () => {
    if (rows.length === 0) return;
    const orders: string[] = [];
    const sequences: string[] = [];
    for (const row of rows) {
      const [order, sequence] = positionParts(row.position);
      orders.push(order.toString());
      sequences.push(sequence.toString());
      if (sequence > highestSequence) highestSequence = sequence;
    }
    await insertRows(client, schema, file, [
      sequences,
      orders,
      rows.map((row) => row.streamId),
      rows.map((row) => row.revision),
      rows.map((row) => row.id),
      rows.map((row) => row.type),
      rows.map((row) => JSON.stringify(row.data)),
      rows.map((row) => JSON.stringify(row.metadata)),
      rows.map((row) => row.recordedAt),
    ]);
    rows = [];
  };
  // Per stream: its highest revision and the order of its last events in the log.
  const streams = new Map<string, { revision: number; order: bigint }>();
  for await (const event of readArchiveFile(directory, file)) {
    rows.push(event);
    const [order] = positionParts(event.position);
    const known = streams.get(event.streamId);
    streams.set(event.streamId, {
      revision: Math.max(known?.revision ?? -1, event.revision),
      order: known === undefined || order > known.order ? order : known.order,
    });
    if (rows.length === ROWS_PER_STATEMENT) await flush();
  }
  await flush();
  await client.query(
    `insert into "${schema}".streams (stream_id, revision, last_transaction_order)
     select * from unnest($1::text[], $2::bigint[], $3::bigint[])
     on conflict (stream_id) do update set revision = greatest(streams.revision, excluded.revision),
       last_transaction_order = greatest(streams.last_transaction_order, excluded.last_transaction_order)`,
    [
      [...streams.keys()],
      [...streams.values()].map((stream) => stream.revision),
      [...streams.values()].map((stream) => stream.order.toString()),
    ],
  );
  // New appends take their sequence numbers after every imported one.
  const sequence = await client.query<{ name: string }>(
    "select pg_get_serial_sequence($1, 'global_position') as name",
    [`"${schema}".events`],
  );
  const name = sequence.rows[0]?.name;
  if (name === undefined) throw new Error(`no sequence behind "${schema}".events.global_position`);
  await client.query(`select setval($1::regclass, greatest($2::bigint, (select last_value from ${name})))`, [
    name,
    highestSequence.toString(),
  ]);
}

/** One statement's rows; an event id the store already holds refuses the archive, naming it. */
async function insertRows(
  client: pg.PoolClient,
  schema: string,
  file: ArchiveFile,
  columns: unknown[][],
): Promise<void> {
  try {
    await client.query(
      `insert into "${schema}".events
         (global_position, transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata, recorded_at)
       overriding system value
       select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::uuid[], $6::text[],
                            $7::jsonb[], $8::jsonb[], $9::timestamptz[])`,
      columns,
    );
  } catch (error) {
    const { code, constraint, detail } = error as { code?: unknown; constraint?: unknown; detail?: unknown };
    if (code !== "23505" || constraint !== "events_event_id_key") throw error;
    throw new ImportRefusedError(
      `${file.name}: ${typeof detail === "string" ? detail : "an event id"} — the archive holds an event id twice ` +
        "(written by a version before the store kept event ids unique); nothing of this file was written. " +
        "--allow-duplicate-ids imports it keeping both",
    );
  }
}

/**
 * Lets the archive's repeated event ids in: the unique index on event ids then covers only
 * events after the archive's last position, and a plain index serves look-ups of the older ones
 * (the state migration 0004 leaves a store in that already held repeated ids). Idempotent, so a
 * resumed import runs it again harmlessly.
 */
async function keepDuplicateIdsOfTheArchive(
  client: pg.PoolClient,
  schema: string,
  lastPosition: string | null,
): Promise<void> {
  const last = lastPosition === null ? undefined : parsePosition(lastPosition);
  const [, lastSequence] = last === undefined ? [0n, 0n] : positionParts(last);
  const { rows } = await client.query<{ partial: boolean }>(
    `select indexdef like '% WHERE %' as partial from pg_indexes
      where schemaname = $1 and indexname = 'events_event_id_key'`,
    [schema],
  );
  if (rows[0]?.partial === true) return;
  await client.query("begin");
  try {
    await client.query(`drop index if exists "${schema}".events_event_id_key`);
    await client.query(`create index if not exists events_event_id_idx on "${schema}".events (event_id)`);
    await client.query(
      `create unique index events_event_id_key on "${schema}".events (event_id) where global_position > ${lastSequence.toString()}`,
    );
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}
