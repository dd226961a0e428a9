import { sql, type Kysely, type Migration } from "kysely";
import { appendBatchFunction } from "./appendBatchFunction.ts";

/**
 * The PostgreSQL event store schema, as kysely migrations. Every object lives in one schema so
 * that several stores (tests, blue/green, tenants) can share a database.
 *
 * Global order: `transaction_order` is the appending transaction's id (xid8 as bigint, plus the
 * log's offset: see 0002), raised where needed to the order of the stream's previous event (see
 * 0004), and `global_position` a sequence. Readers see only rows whose order is below the oldest
 * transaction still running (`pg_snapshot_xmin`), ordered by (transaction_order, global_position):
 * a late-committing writer can therefore never be overtaken and skipped. See PRODUCT.md §5.
 */
export function eventStoreMigrations(schema: string): Record<string, Migration> {
  return {
    "0001_events_and_streams": eventsAndStreams(schema),
    "0002_log_imports": logImports(schema),
    "0003_import_guard": importGuard(schema),
    "0004_stream_order_and_unique_event_ids": streamOrderAndUniqueEventIds(schema),
  };
}

/** The SQLSTATE of an append refused because the log is being imported (object not in prerequisite state). */
export const IMPORT_UNDER_WAY = "55000";

/** The LISTEN/NOTIFY channel on which appends to `schema` wake subscribers. */
export function notificationChannel(schema: string): string {
  return `${schema}_events`;
}

/** 0001: the log (`events`) and each stream's revision (`streams`), in a schema of their own. */
function eventsAndStreams(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.createSchema(schema).ifNotExists().execute();
      const s = db.schema.withSchema(schema);
      await s
        .createTable("events")
        .addColumn("global_position", "bigint", (col) => col.generatedAlwaysAsIdentity().notNull())
        .addColumn("transaction_order", "bigint", (col) => col.notNull())
        .addColumn("stream_id", "text", (col) => col.notNull())
        .addColumn("stream_revision", "bigint", (col) => col.notNull())
        .addColumn("event_id", "uuid", (col) => col.notNull())
        .addColumn("event_type", "text", (col) => col.notNull())
        .addColumn("data", "jsonb", (col) => col.notNull())
        .addColumn("metadata", "jsonb", (col) => col.notNull())
        .addColumn("recorded_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint("events_pkey", ["transaction_order", "global_position"])
        .addUniqueConstraint("events_stream_revision_key", ["stream_id", "stream_revision"])
        .execute();
      await s
        .createTable("streams")
        .addColumn("stream_id", "text", (col) => col.primaryKey())
        .addColumn("revision", "bigint", (col) => col.notNull())
        .execute();
      // append_batch: created in its current form by 0004.
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropSchema(schema).ifExists().cascade().execute();
    },
  };
}

/**
 * 0002: Transaction ids restart low in a new cluster (initdb): an imported log keeps its positions,
 * and new appends must still sort after it. Every transaction order is the transaction id plus
 * the log's offset (0 until an import raises it above the imported positions); readers add
 * the same offset to their snapshot's horizon, so "older than every running transaction"
 * keeps its meaning.
 */
function logImports(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`
          create table ${sql.id(schema, "log_origin")} (
            singleton boolean primary key default true check (singleton),
            transaction_order_offset bigint not null check (transaction_order_offset >= 0)
          )
        `.execute(db);
      await sql`insert into ${sql.id(schema, "log_origin")} (transaction_order_offset) values (0)`.execute(
        db,
      );
      // Which files of which archive an import has written (each in the transaction of its
      // rows), so a stopped import resumes where it stopped. See gateways/eventLogArchive/.
      await sql`
          create table ${sql.id(schema, "imported_files")} (
            archive_id uuid not null,
            file text not null,
            sha256 text not null,
            events integer not null,
            imported_at timestamptz not null default now(),
            primary key (archive_id, file)
          )
        `.execute(db);
    },
  };
}

/**
 * 0003: While an import runs (and after one that stopped half-way, until it is run again to the
 * end) `log_origin.importing_archive` names its archive, and every write to the log other than
 * the import's own is refused: an append then would land among the imported positions, or
 * before them. The check runs after the insert (statement trigger), so an append that was
 * already under way when the import set the flag is refused too, or seen by the import's
 * check that the store is empty (see gateways/eventLogArchive/importEventLog.ts).
 */
function importGuard(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`alter table ${sql.id(schema, "log_origin")} add column importing_archive uuid`.execute(db);
      await sql`
          create function ${sql.id(schema, "refuse_appends_while_importing")}() returns trigger
          language plpgsql as $fn$
          declare
            v_archive uuid;
          begin
            select importing_archive into v_archive from ${sql.id(schema, "log_origin")};
            if v_archive is not null
               and current_setting('tidemark.importing_archive', true) is distinct from v_archive::text then
              raise exception 'the event log is being imported (archive %): no appends until the import has finished', v_archive
                using errcode = '${sql.raw(IMPORT_UNDER_WAY)}';
            end if;
            return null;
          end
          $fn$
        `.execute(db);
      await sql`
          create trigger refuse_appends_while_importing after insert on ${sql.id(schema, "events")}
            for each statement execute function ${sql.id(schema, "refuse_appends_while_importing")}()
        `.execute(db);
    },
  };
}

/**
 * 0004: Each stream in revision order in the global log, and each event id once in it.
 *
 * A batch takes its order (its transaction id) when it starts, then may wait for a stream's
 * row lock; meanwhile another transaction can append to a second stream of the batch and
 * commit with a higher order. Writing that stream's next revision with the older, lower order
 * would put it before its predecessor. So every stream remembers the order of its last
 * events, and a batch writes with the highest of its own order and those of the streams it
 * has locked. Gap safety holds: a row's order is never below its writer's transaction id, so
 * it stays hidden until that writer, and every older one, has ended.
 *
 * Logs written before this migration may hold such inversions, and events whose id appears
 * twice: they are recorded in `log_anomalies` (see `PostgresEventStore.logAnomalies`), which
 * start-up and `projections status` report, and the unique index on event ids then covers
 * only the events appended from now on.
 */
function streamOrderAndUniqueEventIds(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const table = (name: string) => sql.id(schema, name);
      await sql`alter table ${table("streams")} add column last_transaction_order bigint not null default 0`.execute(
        db,
      );
      await sql`
          update ${table("streams")} s set last_transaction_order = m.last_order
            from (select stream_id, max(transaction_order) as last_order from ${table("events")} group by stream_id) m
            where s.stream_id = m.stream_id
        `.execute(db);
      await sql`
          create table ${table("log_anomalies")} (
            kind text not null check (kind in ('revision_order', 'duplicate_event_id')),
            stream_id text not null,
            stream_revision bigint not null,
            event_id uuid not null,
            transaction_order bigint not null,
            global_position bigint not null,
            found_at timestamptz not null default now(),
            primary key (kind, stream_id, stream_revision)
          )
        `.execute(db);
      // Refills log_anomalies from the whole log: here, and after an import that kept inversions.
      await sql`
          create function ${table("record_log_anomalies")}() returns void language sql as $fn$
            delete from ${table("log_anomalies")};
            insert into ${table("log_anomalies")}
              (kind, stream_id, stream_revision, event_id, transaction_order, global_position)
            select 'revision_order', stream_id, stream_revision, event_id, transaction_order, global_position
              from (select e.*, lag(e.transaction_order) over w as previous_order,
                           lag(e.global_position) over w as previous_position
                      from ${table("events")} e
                      window w as (partition by e.stream_id order by e.stream_revision)) ordered
             where (transaction_order, global_position) < (previous_order, previous_position);
            insert into ${table("log_anomalies")}
              (kind, stream_id, stream_revision, event_id, transaction_order, global_position)
            select 'duplicate_event_id', e.stream_id, e.stream_revision, e.event_id, e.transaction_order, e.global_position
              from ${table("events")} e
             where e.event_id in (select event_id from ${table("events")} group by event_id having count(*) > 1);
          $fn$
        `.execute(db);
      await sql`select ${table("record_log_anomalies")}()`.execute(db);
      const { rows } = await sql<{ duplicated: boolean; last_position: string | null }>`
          select exists (select 1 from ${table("log_anomalies")} where kind = 'duplicate_event_id') as duplicated,
                 (select max(global_position) from ${table("events")})::text as last_position
        `.execute(db);
      const [found] = rows;
      if (found?.duplicated === true) {
        // Old duplicates stay (they are history); every event appended from now on is unique,
        // and append_batch looks old ones up through the plain index before writing.
        await sql`create index events_event_id_idx on ${table("events")} (event_id)`.execute(db);
        await sql`
            create unique index events_event_id_key on ${table("events")} (event_id)
              where global_position > ${sql.lit(Number(found.last_position ?? 0))}
          `.execute(db);
      } else {
        await sql`create unique index events_event_id_key on ${table("events")} (event_id)`.execute(db);
      }
      await sql`drop function if exists ${table("append_batch")}(text[], bigint[], jsonb)`.execute(db);
      await appendBatchFunction(schema).execute(db);
    },
  };
}
