-- One event-sized jsonb row per transaction: the raw ceiling for single-event appends.
insert into bench_raw (data) values ('{"type":"FundsDeposited","data":{"accountId":"3f2c1a9e-8b7d-4c6e-9f01-23456789abcd","amount":12345,"currency":"GBP"},"metadata":{"correlationId":"0c9b8a7f-6e5d-4c3b-a291-0fedcba98765","actor":"bench"}}');
