-- One of Tidemark's event rows straight into its log table (columns, indexes, trigger as migrated),
-- to stream 'account-<client>': what the table costs an append, without append_batch, the streams
-- row, any parsing or any client work. Revision and id come from one sequence (unique, increasing,
-- as Tidemark's time-ordered UUIDv7 ids are); the order is the transaction's own.
insert into bench_tidemark_rows.events (transaction_order, stream_id, stream_revision, event_id, event_type, data, metadata)
select pg_current_xact_id()::text::bigint, 'account-' || :client_id, n, lpad(to_hex(n), 32, '0')::uuid, 'FundsDeposited', '{"accountId":"3f2c1a9e-8b7d-4c6e-9f01-23456789abcd","amount":12345,"currency":"GBP"}'::jsonb, '{"correlationId":"0c9b8a7f-6e5d-4c3b-a291-0fedcba98765","actor":"bench"}'::jsonb
  from (select nextval('bench_tidemark_rows.event_numbers') as n) as next;
