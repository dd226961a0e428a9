import { sql, type Kysely, type Migration } from "kysely";

/**
 * The PostgreSQL event store schema, as kysely migrations. Every object lives in one schema so
 * that several stores (tests, blue/green, tenants) can share a database.
 *
 * Global order: `transaction_order` is the appending transaction's id (xid8 as bigint) and
 * `global_position` a sequence. Readers see only rows whose transaction is older than every
 * transaction still running (`pg_snapshot_xmin`), ordered by (transaction_order, global_position):
 * a late-committing writer can therefore never be overtaken and skipped. See PRODUCT.md §5.
 */
export function eventStoreMigrations(schema: string): Record<string, Migration> {
  const notifyChannel = notificationChannel(schema);
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
        await sql`
          create function ${sql.id(schema, "append_batch")}(p_appends jsonb)
          returns table (append_index int, appended boolean, revision bigint, transaction_order bigint, global_position bigint)
          language plpgsql as $fn$
          #variable_conflict use_column
          -- One call appends many independent appends in one transaction (micro-batching).
          -- Each append either writes all its events or none; a refused expectation never
          -- raises, so that one conflict cannot roll back the others in the batch.
          -- Expected revision codes: >= 0 exact, -1 no_stream, -2 any, -3 stream_exists.
          -- Callers sort appends by stream id so that concurrent batches lock streams in one order.
          declare
            v_append jsonb;
            v_index int := -1;
            v_stream text;
            v_expected bigint;
            v_count int;
            v_current bigint;
            v_ids uuid[];
            v_found uuid[];
            v_first bigint;
            v_ok boolean;
            v_last_position bigint;
            v_last_order bigint;
            v_order bigint := pg_current_xact_id()::text::bigint;
            v_wrote boolean := false;
          begin
            for v_append in select value from jsonb_array_elements(p_appends) loop
              v_index := v_index + 1;
              v_stream := v_append->>'s';
              v_expected := (v_append->>'e')::bigint;
              v_count := jsonb_array_length(v_append->'ev');

              select s.revision into v_current from ${sql.id(schema, "streams")} s
                where s.stream_id = v_stream for update;
              if not found then
                v_current := -1;
                if v_expected in (-1, -2) then
                  insert into ${sql.id(schema, "streams")} as s (stream_id, revision) values (v_stream, -1)
                    on conflict (stream_id) do nothing;
                  -- A concurrent writer may have created the stream first: lock what is there now.
                  select s.revision into v_current from ${sql.id(schema, "streams")} s
                    where s.stream_id = v_stream for update;
                end if;
              end if;

              -- A retried append: these very events already stand where the writer meant them.
              -- For exact and no_stream that place is known; for any and stream_exists it is the
              -- stream's tail (checked through the last event first, which is one index probe).
              v_first := case
                when v_expected >= 0 then v_expected + 1
                when v_expected = -1 then 0
                else v_current - v_count + 1 end;
              v_ok := v_expected = -2
                 or (v_expected = -1 and v_current = -1)
                 or (v_expected = -3 and v_current >= 0)
                 or v_expected = v_current;
              if v_first >= 0 and v_first + v_count - 1 <= v_current
                 and (not v_ok or exists (
                   select 1 from ${sql.id(schema, "events")} e
                     where e.stream_id = v_stream and e.stream_revision = v_current
                       and e.event_id = (v_append->'ev'->(v_count - 1)->>'i')::uuid)) then
                select array_agg((x.value->>'i')::uuid order by x.ordinality) into v_ids
                  from jsonb_array_elements(v_append->'ev') with ordinality as x;
                select array_agg(e.event_id order by e.stream_revision), max(e.global_position),
                       max(e.transaction_order)
                  into v_found, v_last_position, v_last_order
                  from ${sql.id(schema, "events")} e
                  where e.stream_id = v_stream and e.stream_revision between v_first and v_first + v_count - 1;
                if v_found = v_ids then
                  append_index := v_index; appended := true; revision := v_first + v_count - 1;
                  transaction_order := v_last_order; global_position := v_last_position;
                  return next;
                  continue;
                end if;
              end if;

              if not v_ok then
                append_index := v_index; appended := false; revision := v_current;
                transaction_order := null; global_position := null;
                return next;
                continue;
              end if;

              with inserted as (
                insert into ${sql.id(schema, "events")}
                  (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
                select v_order, v_stream, v_current + x.ordinality, (x.value->>'i')::uuid, x.value->>'t',
                       x.value->'d', x.value->'m'
                  from jsonb_array_elements(v_append->'ev') with ordinality as x
                  order by x.ordinality
                returning events.global_position
              )
              select max(inserted.global_position) into v_last_position from inserted;
              update ${sql.id(schema, "streams")} s set revision = v_current + v_count where s.stream_id = v_stream;
              v_wrote := true;
              append_index := v_index; appended := true; revision := v_current + v_count;
              transaction_order := v_order; global_position := v_last_position;
              return next;
            end loop;
            if v_wrote then
              perform pg_notify(${sql.lit(notifyChannel)}, '');
            end if;
          end
          $fn$
        `.execute(db);
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropSchema(schema).ifExists().cascade().execute();
      },
    },
  };
}

/** The LISTEN/NOTIFY channel on which appends to `schema` wake subscribers. */
export function notificationChannel(schema: string): string {
  return `${schema}_events`;
}
