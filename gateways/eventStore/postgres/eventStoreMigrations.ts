import { sql, type Kysely, type Migration, type RawBuilder } from "kysely";

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
    "0001_events_and_streams": {
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
    },
    // Transaction ids restart low in a new cluster (initdb): an imported log keeps its positions,
    // and new appends must still sort after it. Every transaction order is the transaction id plus
    // the log's offset (0 until an import raises it above the imported positions); readers add
    // the same offset to their snapshot's horizon, so "older than every running transaction"
    // keeps its meaning.
    "0002_log_imports": {
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
    },
    // While an import runs (and after one that stopped half-way, until it is run again to the
    // end) `log_origin.importing_archive` names its archive, and every write to the log other than
    // the import's own is refused: an append then would land among the imported positions, or
    // before them. The check runs after the insert (statement trigger), so an append that was
    // already under way when the import set the flag is refused too, or seen by the import's
    // check that the store is empty (see gateways/eventLogArchive/importEventLog.ts).
    "0003_import_guard": {
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
    },
    // Each stream in revision order in the global log, and each event id once in it.
    //
    // A batch takes its order (its transaction id) when it starts, then may wait for a stream's
    // row lock; meanwhile another transaction can append to a second stream of the batch and
    // commit with a higher order. Writing that stream's next revision with the older, lower order
    // would put it before its predecessor. So every stream remembers the order of its last
    // events, and a batch writes with the highest of its own order and those of the streams it
    // has locked. Gap safety holds: a row's order is never below its writer's transaction id, so
    // it stays hidden until that writer, and every older one, has ended.
    //
    // Logs written before this migration may hold such inversions, and events whose id appears
    // twice: they are recorded in `log_anomalies` (see `PostgresEventStore.logAnomalies`), which
    // start-up and `projections status` report, and the unique index on event ids then covers
    // only the events appended from now on.
    "0004_stream_order_and_unique_event_ids": {
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
    },
  };
}

/** The SQLSTATE of an append refused because the log is being imported (object not in prerequisite state). */
export const IMPORT_UNDER_WAY = "55000";

/** The LISTEN/NOTIFY channel on which appends to `schema` wake subscribers. */
export function notificationChannel(schema: string): string {
  return `${schema}_events`;
}

/**
 * `append_batch(streams, expected, events)`: many independent appends in one transaction
 * (micro-batching), set-based, a few statements per batch rather than per append.
 */
function appendBatchFunction(schema: string): RawBuilder<unknown> {
  const events = sql.id(schema, "events");
  const streams = sql.id(schema, "streams");
  return sql`
          create function ${sql.id(schema, "append_batch")}(p_streams text[], p_expected bigint[], p_events jsonb)
          returns table (append_index int, appended boolean, revision bigint, transaction_order bigint,
                         global_position bigint, duplicate_event_id uuid, duplicate_stream_id text,
                         duplicate_revision bigint)
          language plpgsql
          -- Plan once per connection: re-planning every statement on every call cost more than running them.
          set plan_cache_mode = force_generic_plan
          as $fn$
          #variable_conflict use_column
          -- Append i writes p_events->(i-1) to p_streams[i] if the stream is at p_expected[i]: all
          -- its events or none. A refused append never raises, so one cannot roll back the others.
          -- Expected revision codes: >= 0 exact, -1 no_stream, -2 any, -3 stream_exists.
          -- Stream rows are created and locked in stream id order, so concurrent batches never deadlock.
          --
          -- Event ids are unique in the log. An append whose events already stand, with the same
          -- ids, types and data, in its stream at the place its expectation allows is a retry: it
          -- answers what the first append did and writes nothing. Any other reuse of an id (in
          -- another stream, elsewhere in the stream, with other content, or only some of the ids)
          -- is refused, naming where the id stands.
          declare
            -- This transaction's order (its id plus the log's offset, migration 0002), taken before
            -- any lock is waited for. The order written is the highest of it and the orders of the
            -- locked streams' last events (migration 0004), so each stream stays in revision order.
            v_own_order bigint := pg_current_xact_id()::text::bigint
              + (select transaction_order_offset from ${sql.id(schema, "log_origin")});
            v_order bigint;
            v_size int := coalesce(array_length(p_streams, 1), 0);
            v_known text[];
            v_known_revisions bigint[];
            v_base bigint[];          -- per append: the revision it builds on; null when not written
            v_result_revision bigint[];
            v_result_order bigint[];
            v_result_position bigint[];
            v_appended boolean[];
            v_duplicate_id uuid[];
            v_duplicate_stream text[];
            v_duplicate_revision bigint[];
            v_count int;
            v_known_index int;
            v_current bigint;
            v_ok boolean;
            v_found_count int;
            v_found_shapes int;
            v_found_first bigint;
            v_found_last bigint;
            v_found_same boolean;
            v_same boolean;
            v_found_order bigint;
            v_found_position bigint;
            v_example_id uuid;
            v_example_stream text;
            v_example_revision bigint;
          begin
            -- Fast path for the commonest call, one append of new events that expects an exact
            -- revision or no stream: claim the stream row in one statement, then write. Anything
            -- else (a conflict, a retry, any, stream_exists) falls through to the general path.
            -- (Only the first id is looked up here; a later reused id meets the unique index.)
            if v_size = 1 and p_expected[1] >= -1
               and not exists (select 1 from ${events} e where e.event_id = (p_events->0->0->>'i')::uuid) then
              v_count := jsonb_array_length(p_events->0);
              if p_expected[1] = -1 then
                insert into ${streams} (stream_id, revision, last_transaction_order)
                  values (p_streams[1], v_count - 1, v_own_order)
                  on conflict (stream_id) do nothing
                  returning last_transaction_order into v_order;
              else
                update ${streams} s set revision = s.revision + v_count,
                       last_transaction_order = greatest(s.last_transaction_order, v_own_order)
                  where s.stream_id = p_streams[1] and s.revision = p_expected[1]
                  returning s.last_transaction_order into v_order;
              end if;
              if found then
                return query
                  with inserted as (
                    insert into ${events}
                      (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
                    select v_order, p_streams[1], p_expected[1] + x.ordinality,
                           (x.value->>'i')::uuid, x.value->>'t', x.value->'d', x.value->'m'
                      from jsonb_array_elements(p_events->0) with ordinality as x
                      order by x.ordinality
                    returning events.global_position
                  )
                  select 0, true, p_expected[1] + v_count, v_order, max(ins.global_position),
                         null::uuid, null::text, null::bigint
                    from inserted ins;
                return;
              end if;
            end if;

            if -1 = any(p_expected) or -2 = any(p_expected) then
              -- Streams that no_stream / any may create; -1 means "no events yet".
              insert into ${streams} (stream_id, revision)
                select distinct u.stream_id, -1::bigint from unnest(p_streams, p_expected) as u(stream_id, expected)
                  where u.expected in (-1, -2) order by 1
                on conflict (stream_id) do nothing;
            end if;
            select array_agg(l.stream_id), array_agg(l.revision), greatest(v_own_order, max(l.last_transaction_order))
              into v_known, v_known_revisions, v_order
              from (select s.stream_id, s.revision, s.last_transaction_order from ${streams} s
                      where s.stream_id = any(p_streams) order by s.stream_id for update) l;
            v_order := coalesce(v_order, v_own_order);
            v_base := array_fill(null::bigint, array[v_size]);
            v_result_revision := v_base;
            v_result_order := v_base;
            v_result_position := v_base;
            v_duplicate_revision := v_base;
            v_duplicate_id := array_fill(null::uuid, array[v_size]);
            v_duplicate_stream := array_fill(null::text, array[v_size]);
            v_appended := array_fill(false, array[v_size]);
            for i in 1 .. v_size loop
              v_count := jsonb_array_length(p_events->(i - 1));
              v_known_index := array_position(v_known, p_streams[i]);
              v_current := coalesce(v_known_revisions[v_known_index], -1);
              v_ok := p_expected[i] = -2
                 or (p_expected[i] = -1 and v_current = -1)
                 or (p_expected[i] = -3 and v_current >= 0)
                 or p_expected[i] = v_current;
              v_found_count := 0;
              -- Are these ids in the log already? Looked up for a lone append (the adapter sends a
              -- retry, or any append of a batch that met a reused id, alone) and for one whose
              -- expectation failed (a retry of an exact append lands here); an append of a batch
              -- that may be written meets the unique index instead, which sends it back alone.
              -- One index probe per event, as a lateral lookup: a set-based "= any(array)" was
              -- planned once per connection (generic plan) on a small table as a sequential scan.
              if v_size = 1 or not v_ok then
                select count(e.event_id), count(distinct e.stream_revision - x.ordinality),
                       min(e.stream_revision), max(e.stream_revision),
                       coalesce(bool_and(e.stream_id = p_streams[i] and e.event_type = x.value->>'t'
                                         and e.data = x.value->'d'), false),
                       max(e.transaction_order), max(e.global_position),
                       (array_agg(e.event_id order by x.ordinality) filter (where e.event_id is not null))[1],
                       (array_agg(e.stream_id order by x.ordinality) filter (where e.event_id is not null))[1],
                       (array_agg(e.stream_revision order by x.ordinality) filter (where e.event_id is not null))[1]
                  into v_found_count, v_found_shapes, v_found_first, v_found_last, v_found_same,
                       v_found_order, v_found_position, v_example_id, v_example_stream, v_example_revision
                  from jsonb_array_elements(p_events->(i - 1)) with ordinality as x
                  left join lateral (
                    select f.event_id, f.stream_id, f.stream_revision, f.event_type, f.data,
                           f.transaction_order, f.global_position
                      from ${events} f where f.event_id = (x.value->>'i')::uuid limit 1) e on true;
              end if;
              if v_found_count > 0 then
                v_same := v_found_count = v_count and v_found_shapes = 1 and v_found_same;
                if v_same and (p_expected[i] < -1 or v_found_first = greatest(p_expected[i], -1) + 1) then
                  -- A retry: these very events stand where the writer meant them.
                  v_appended[i] := true;
                  v_result_revision[i] := v_found_last;
                  v_result_order[i] := v_found_order;
                  v_result_position[i] := v_found_position;
                elsif v_same and not v_ok then
                  -- The same events elsewhere in the stream, and the stream not where the writer
                  -- thinks: the expectation decides, as for any other append.
                  v_result_revision[i] := v_current;
                else
                  v_duplicate_id[i] := v_example_id;
                  v_duplicate_stream[i] := v_example_stream;
                  v_duplicate_revision[i] := v_example_revision;
                  v_result_revision[i] := v_current;
                end if;
                continue;
              end if;
              if v_ok then
                v_appended[i] := true;
                v_base[i] := v_current;
                v_result_revision[i] := v_current + v_count;
                v_result_order[i] := v_order;
                v_known_revisions[v_known_index] := v_current + v_count;
              else
                v_result_revision[i] := v_current;
              end if;
            end loop;

            update ${streams} s set revision = w.revision, last_transaction_order = v_order
              from (select u.stream_id, max(u.revision) as revision
                      from unnest(p_streams, v_result_revision, v_base) as u(stream_id, revision, base)
                      where u.base is not null group by u.stream_id) w
              where s.stream_id = w.stream_id;

            return query
              with inserted as (
                insert into ${events}
                  (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
                select v_order, p_streams[a.ordinality], v_base[a.ordinality] + x.ordinality,
                       (x.value->>'i')::uuid, x.value->>'t', x.value->'d', x.value->'m'
                  from jsonb_array_elements(p_events) with ordinality as a
                  cross join lateral jsonb_array_elements(a.value) with ordinality as x
                  where v_base[a.ordinality] is not null
                  order by a.ordinality, x.ordinality
                returning events.stream_id, events.stream_revision, events.global_position
              )
              select (r.ordinality - 1)::int, r.appended, r.revision, r.transaction_order,
                     coalesce(r.global_position, ins.global_position),
                     r.duplicate_id, r.duplicate_stream, r.duplicate_revision
                from unnest(v_appended, v_result_revision, v_result_order, v_result_position,
                            v_duplicate_id, v_duplicate_stream, v_duplicate_revision)
                       with ordinality as r(appended, revision, transaction_order, global_position,
                                            duplicate_id, duplicate_stream, duplicate_revision)
                left join inserted ins
                  on r.global_position is null and r.appended
                 and ins.stream_id = p_streams[r.ordinality] and ins.stream_revision = r.revision
                order by r.ordinality;
          end
          $fn$
        `;
}
