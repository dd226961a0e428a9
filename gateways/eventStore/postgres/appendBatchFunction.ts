import { sql, type RawBuilder } from "kysely";

/**
 * `append_batch(streams, expected, events)`: many independent appends in one transaction
 * (micro-batching), set-based, a few statements per batch rather than per append.
 *
 * The text must stay byte for byte what migration 0004 created in every running store. It is
 * composed of the function's steps below, each whole lines indented as in the function, without
 * the last line's newline.
 */
export function appendBatchFunction(schema: string): RawBuilder<unknown> {
  const events = sql.id(schema, "events");
  const streams = sql.id(schema, "streams");
  return sql`
${signatureAndContract(schema)}
${declarations(schema)}
          begin
${fastPathForOneAppend(events, streams)}

${createAndLockTheStreams(streams)}
${decideEachAppend(events)}

${writeTheAppendedEvents(events, streams)}
          end
          $fn$
        `;
}

/** The signature, the plan cache setting, and the contract of every append of a batch. */
function signatureAndContract(schema: string): RawBuilder<unknown> {
  return sql`          create function ${sql.id(schema, "append_batch")}(p_streams text[], p_expected bigint[], p_events jsonb)
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
          -- is refused, naming where the id stands.`;
}

/** The transaction's own order, and the per-append answers being built. */
function declarations(schema: string): RawBuilder<unknown> {
  return sql`          declare
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
            v_example_revision bigint;`;
}

/** One append of new events expecting an exact revision or no stream: one statement, then write. */
function fastPathForOneAppend(
  events: RawBuilder<unknown>,
  streams: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`            -- Fast path for the commonest call, one append of new events that expects an exact
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
            end if;`;
}

/** Creates the streams no_stream / any may create, then locks every stream of the batch in id order. */
function createAndLockTheStreams(streams: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`            if -1 = any(p_expected) or -2 = any(p_expected) then
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
            v_order := coalesce(v_order, v_own_order);`;
}

/** Per append: written, answered as a retry, refused for its expectation, or refused for a reused id. */
function decideEachAppend(events: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`            v_base := array_fill(null::bigint, array[v_size]);
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
${findTheIdsInTheLog(events)}
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
            end loop;`;
}

/** Where the append's event ids already stand in the log, if anywhere: one index probe per event. */
function findTheIdsInTheLog(events: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`              -- Are these ids in the log already? Looked up for a lone append (the adapter sends a
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
              end if;`;
}

/** Advances the streams written to, inserts their events, and answers every append in order. */
function writeTheAppendedEvents(
  events: RawBuilder<unknown>,
  streams: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`            update ${streams} s set revision = w.revision, last_transaction_order = v_order
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
                order by r.ordinality;`;
}
