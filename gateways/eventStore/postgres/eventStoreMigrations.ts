import { sql, type Kysely, type Migration, type RawBuilder } from "kysely";

/**
 * The PostgreSQL event store schema, as kysely migrations. Every object lives in one schema so
 * that several stores (tests, blue/green, tenants) can share a database.
 *
 * Global order: `transaction_order` is the appending transaction's id (xid8 as bigint, plus the log's offset: see 0002) and
 * `global_position` a sequence. Readers see only rows whose transaction is older than every
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
        await appendBatchFunction(schema, sql`pg_current_xact_id()::text::bigint`).execute(db);
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
        await appendBatchFunction(
          schema,
          sql`pg_current_xact_id()::text::bigint + (select transaction_order_offset from ${sql.id(schema, "log_origin")})`,
        ).execute(db);
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
  };
}

/** The SQLSTATE of an append refused because the log is being imported (object not in prerequisite state). */
export const IMPORT_UNDER_WAY = "55000";

/** The LISTEN/NOTIFY channel on which appends to `schema` wake subscribers. */
export function notificationChannel(schema: string): string {
  return `${schema}_events`;
}

/**
 * `append_batch`, with the expression that gives the appending transaction its order (the
 * transaction id, plus the log's offset from migration 0002 on).
 */
function appendBatchFunction(schema: string, orderExpression: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
          create or replace function ${sql.id(schema, "append_batch")}(p_streams text[], p_expected bigint[], p_events jsonb)
          returns table (append_index int, appended boolean, revision bigint, transaction_order bigint, global_position bigint)
          language plpgsql
          -- Plan once per connection: re-planning every statement on every call cost more than running them.
          set plan_cache_mode = force_generic_plan
          as $fn$
          #variable_conflict use_column
          -- Many independent appends in one transaction (micro-batching), set-based: a few
          -- statements per batch, not per append. Append i writes p_events->(i-1) to p_streams[i]
          -- if the stream is at p_expected[i]: all its events or none. A refused expectation never
          -- raises, so one conflict cannot roll back the others.
          -- Expected revision codes: >= 0 exact, -1 no_stream, -2 any, -3 stream_exists.
          -- Stream rows are created and locked in stream id order, so concurrent batches never deadlock.
          declare
            v_order bigint := ${orderExpression};
            v_size int := coalesce(array_length(p_streams, 1), 0);
            v_known text[];
            v_known_revisions bigint[];
            v_base bigint[];          -- per append: the revision it builds on; null when not written
            v_result_revision bigint[];
            v_result_order bigint[];
            v_result_position bigint[];
            v_appended boolean[];
            v_count int;
            v_known_index int;
            v_current bigint;
            v_first bigint;
            v_ok boolean;
            v_found uuid[];
            v_found_position bigint;
            v_found_order bigint;
          begin
            -- Fast path for the commonest call, one append that expects an exact revision or no
            -- stream: claim the stream row in one statement, then write. Anything else (a
            -- conflict, a retry, any, stream_exists) falls through to the general path below.
            if v_size = 1 and p_expected[1] >= -1 then
              v_count := jsonb_array_length(p_events->0);
              if p_expected[1] = -1 then
                insert into ${sql.id(schema, "streams")} (stream_id, revision) values (p_streams[1], v_count - 1)
                  on conflict (stream_id) do nothing;
              else
                update ${sql.id(schema, "streams")} s set revision = s.revision + v_count
                  where s.stream_id = p_streams[1] and s.revision = p_expected[1];
              end if;
              if found then
                return query
                  with inserted as (
                    insert into ${sql.id(schema, "events")}
                      (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
                    select v_order, p_streams[1], p_expected[1] + x.ordinality,
                           (x.value->>'i')::uuid, x.value->>'t', x.value->'d', x.value->'m'
                      from jsonb_array_elements(p_events->0) with ordinality as x
                      order by x.ordinality
                    returning events.global_position
                  )
                  select 0, true, p_expected[1] + v_count, v_order, max(ins.global_position) from inserted ins;
                return;
              end if;
            end if;

            if -1 = any(p_expected) or -2 = any(p_expected) then
              -- Streams that no_stream / any may create; -1 means "no events yet".
              insert into ${sql.id(schema, "streams")} (stream_id, revision)
                select distinct u.stream_id, -1::bigint from unnest(p_streams, p_expected) as u(stream_id, expected)
                  where u.expected in (-1, -2) order by 1
                on conflict (stream_id) do nothing;
            end if;
            select array_agg(l.stream_id), array_agg(l.revision) into v_known, v_known_revisions
              from (select s.stream_id, s.revision from ${sql.id(schema, "streams")} s
                      where s.stream_id = any(p_streams) order by s.stream_id for update) l;

            v_base := array_fill(null::bigint, array[v_size]);
            v_result_revision := v_base;
            v_result_order := v_base;
            v_result_position := v_base;
            v_appended := array_fill(false, array[v_size]);
            for i in 1 .. v_size loop
              v_count := jsonb_array_length(p_events->(i - 1));
              v_known_index := array_position(v_known, p_streams[i]);
              v_current := coalesce(v_known_revisions[v_known_index], -1);
              v_ok := p_expected[i] = -2
                 or (p_expected[i] = -1 and v_current = -1)
                 or (p_expected[i] = -3 and v_current >= 0)
                 or p_expected[i] = v_current;
              -- A retried append: these very events already stand where the writer meant them.
              -- For exact and no_stream that place is known; for any and stream_exists it is the
              -- stream's tail (probed through its last event first: one index lookup).
              v_first := case
                when p_expected[i] >= 0 then p_expected[i] + 1
                when p_expected[i] = -1 then 0
                else v_current - v_count + 1 end;
              v_found := null;
              if v_first >= 0 and v_first + v_count - 1 <= v_current
                 and (not v_ok or exists (
                   select 1 from ${sql.id(schema, "events")} e
                     where e.stream_id = p_streams[i] and e.stream_revision = v_current
                       and e.event_id = (p_events->(i - 1)->(v_count - 1)->>'i')::uuid)) then
                select array_agg(e.event_id order by e.stream_revision), max(e.global_position),
                       max(e.transaction_order)
                  into v_found, v_found_position, v_found_order
                  from ${sql.id(schema, "events")} e
                  where e.stream_id = p_streams[i] and e.stream_revision between v_first and v_first + v_count - 1;
                if v_found is distinct from (select array_agg((x.value->>'i')::uuid order by x.ordinality)
                                               from jsonb_array_elements(p_events->(i - 1)) with ordinality as x) then
                  v_found := null;
                end if;
              end if;
              if v_found is not null then
                v_appended[i] := true;
                v_result_revision[i] := v_first + v_count - 1;
                v_result_order[i] := v_found_order;
                v_result_position[i] := v_found_position;
              elsif v_ok then
                v_appended[i] := true;
                v_base[i] := v_current;
                v_result_revision[i] := v_current + v_count;
                v_result_order[i] := v_order;
                v_known_revisions[v_known_index] := v_current + v_count;
              else
                v_result_revision[i] := v_current;
              end if;
            end loop;

            update ${sql.id(schema, "streams")} s set revision = w.revision
              from (select u.stream_id, max(u.revision) as revision
                      from unnest(p_streams, v_result_revision, v_base) as u(stream_id, revision, base)
                      where u.base is not null group by u.stream_id) w
              where s.stream_id = w.stream_id;

            return query
              with inserted as (
                insert into ${sql.id(schema, "events")}
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
                     coalesce(r.global_position, ins.global_position)
                from unnest(v_appended, v_result_revision, v_result_order, v_result_position)
                       with ordinality as r(appended, revision, transaction_order, global_position)
                left join inserted ins
                  on r.global_position is null and r.appended
                 and ins.stream_id = p_streams[r.ordinality] and ins.stream_revision = r.revision
                order by r.ordinality;
          end
          $fn$
        `;
}
