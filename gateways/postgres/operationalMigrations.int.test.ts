import anyTest, { type TestFn } from "ava";
import pg from "pg";
import { TEST_DATABASE_URL, openTestDatabase, type TestDatabase } from "../../test/postgresTestDatabase.ts";
import {
  migrateOperationalTables,
  operationalMigrations,
  type OperationalComponent,
} from "./operationalMigrations.ts";

const test = anyTest as TestFn<TestDatabase>;

const COMPONENTS: Record<OperationalComponent, readonly string[]> = {
  fanout: ["checkpoints", "dead_letters", "pending_retries"],
  sms: ["deferred_wakeups"],
  banking: ["refresh_reads"],
  scheduler: ["refresh_schedule"],
  commandApi: ["idempotency_keys"],
};
const HISTORIES: Record<OperationalComponent, string> = {
  fanout: "fanout_migrations",
  sms: "sms_migrations",
  banking: "banking_migrations",
  scheduler: "scheduler_migrations",
  commandApi: "command_api_migrations",
};
const components = Object.keys(COMPONENTS) as OperationalComponent[];
/** The names of `component`'s migrations, in the order they run. */
const migrationNames = (component: OperationalComponent, schema: string): string[] =>
  Object.keys(operationalMigrations(component, schema)).sort();

/** What the versions before the migration history created, statement for statement. */
const OLD_TABLES = (schema: string): string[] => [
  `create schema if not exists "${schema}"`,
  `create table if not exists "${schema}".checkpoints (
    name text primary key, position text not null, updated_at timestamptz not null default now())`,
  // As made before requeueing existed: no requeued_at.
  `create table if not exists "${schema}".dead_letters (
    consumer text not null, event_id uuid not null, event_type text not null, position text not null,
    attempts integer not null, error text not null, failed_at timestamptz not null default now(),
    event jsonb not null, primary key (consumer, event_id))`,
  `create table if not exists "${schema}".pending_retries (
    consumer text not null, event_id uuid not null, position text not null, attempts integer not null,
    error text not null, due_at timestamptz not null, event jsonb not null, primary key (consumer, event_id))`,
  `create index if not exists pending_retries_due on "${schema}".pending_retries (consumer, due_at)`,
  `create table if not exists "${schema}".deferred_wakeups (notification_id text primary key, due_at timestamptz not null)`,
  `create table if not exists "${schema}".refresh_reads (
    account_id text not null, day date not null, event_id uuid not null,
    claimed_at timestamptz not null default now(), primary key (account_id, day, event_id))`,
  `create table if not exists "${schema}".refresh_schedule (account_id text primary key, next_due_at timestamptz not null)`,
  `create table if not exists "${schema}".idempotency_keys (
    caller text not null, key text not null, request_hash text not null, status int, content_type text,
    etag text, body text, created_at timestamptz not null default now(), primary key (caller, key))`,
];

const OLD_ROWS = (schema: string): string[] => [
  `insert into "${schema}".checkpoints (name, position) values ('relay', '0/42')`,
  `insert into "${schema}".dead_letters (consumer, event_id, event_type, position, attempts, error, event)
     values ('banking', '00000000-0000-4000-8000-000000000001', 'BalanceRefreshRequested', '0/7', 5, 'boom', '{}')`,
  `insert into "${schema}".pending_retries (consumer, event_id, position, attempts, error, due_at, event)
     values ('sms', '00000000-0000-4000-8000-000000000002', '0/8', 1, 'timeout', now(), '{}')`,
  `insert into "${schema}".deferred_wakeups values ('notification-1', now())`,
  `insert into "${schema}".refresh_reads (account_id, day, event_id)
     values ('account-1', '2026-12-06', '00000000-0000-4000-8000-000000000003')`,
  `insert into "${schema}".refresh_schedule values ('account-1', now())`,
  `insert into "${schema}".idempotency_keys (caller, key, request_hash, status, body)
     values ('ops', 'key-00000001', 'hash', 201, '{"ok":true}')`,
];

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestDatabase(4));
});

test.afterEach.always(async (t) => {
  await t.context.dispose();
});

async function migrateAll(pool: pg.Pool, schema: string): Promise<void> {
  for (const component of components) await migrateOperationalTables(pool, component, schema);
}

async function tablesOf(pool: pg.Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = $1 order by table_name",
    [schema],
  );
  return rows.map((row) => row.table_name);
}

async function recorded(pool: pg.Pool, schema: string, component: OperationalComponent): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `select name from "${schema}".${HISTORIES[component]} order by name`,
  );
  return rows.map((row) => row.name);
}

async function rowCount(pool: pg.Pool, schema: string, table: string): Promise<number> {
  const { rows } = await pool.query<{ count: string }>(`select count(*) from "${schema}".${table}`);
  return Number(rows[0]?.count);
}

test("a fresh database gets every operational table, each migration recorded once", async (t) => {
  const { pool, schema } = t.context;
  await migrateAll(pool, schema);
  await migrateAll(pool, schema); // at every start-up: nothing left to do
  const tables = await tablesOf(pool, schema);
  for (const component of components) {
    for (const table of COMPONENTS[component]) t.true(tables.includes(table), table);
    const names = await recorded(pool, schema, component);
    t.deepEqual(names, migrationNames(component, schema), component);
    t.true(names[0]?.startsWith("0001_"), component);
  }
});

test("the additions beside the tables (the budget's claim, the schedule's index) are made at every start, outside the history", async (t) => {
  const { pool, schema } = t.context;
  await migrateAll(pool, schema);
  await pool.query(`drop index "${schema}".refresh_schedule_due`);
  await Promise.all([migrateAll(pool, schema), migrateAll(pool, schema)]); // two processes starting at once
  const { rows } = await pool.query<{
    function: string | null;
    functions: string | null;
    index: string | null;
  }>(
    `select to_regprocedure($1)::text as function, to_regprocedure($2)::text as functions, to_regclass($3)::text as index`,
    [
      `"${schema}".claim_refresh_read(text, text, uuid, integer)`,
      `"${schema}".claim_refresh_reads(text[], text[], uuid[], integer)`,
      `"${schema}".refresh_schedule_due`,
    ],
  );
  t.truthy(rows[0]?.function);
  t.truthy(rows[0]?.functions);
  t.truthy(rows[0]?.index, "made again where it went missing");
});

test("an older version started again over a newer version's history starts: what it does not know stays recorded", async (t) => {
  const { pool, schema } = t.context;
  await migrateAll(pool, schema);
  await pool.query(
    `insert into "${schema}".${HISTORIES.banking} (name, timestamp) values ('9999_of_a_newer_version', now())`,
  );
  await migrateAll(pool, schema); // would throw "corrupted migrations" if the migrator were asked as it is
  t.deepEqual(await recorded(pool, schema, "banking"), [
    ...migrationNames("banking", schema),
    "9999_of_a_newer_version",
  ]);
});

test("tables the versions before the history created are adopted with their rows", async (t) => {
  const { pool, schema } = t.context;
  for (const statement of [...OLD_TABLES(schema), ...OLD_ROWS(schema)]) await pool.query(statement);

  await migrateAll(pool, schema);

  for (const component of components) {
    for (const table of COMPONENTS[component]) t.is(await rowCount(pool, schema, table), 1, table);
    t.deepEqual(await recorded(pool, schema, component), migrationNames(component, schema), component);
  }
  const { rows } = await pool.query<{ position: string }>(`select position from "${schema}".checkpoints`);
  t.is(rows[0]?.position, "0/42");
  // A dead-letters table from before requeueing gains its column, its letters kept.
  const { rows: letters } = await pool.query<{ requeued_at: Date | null }>(
    `select requeued_at from "${schema}".dead_letters`,
  );
  t.deepEqual(letters, [{ requeued_at: null }]);
});

test("two processes migrating at once both finish, and every migration runs once", async (t) => {
  const { schema } = t.context;
  const pools = [1, 2].map(() => new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 }));
  try {
    for (let round = 0; round < 3; round += 1) {
      const roundSchema = `${schema}_${round}`;
      try {
        await Promise.all(pools.map((pool) => migrateAll(pool, roundSchema)));
        for (const component of components) {
          t.deepEqual(
            await recorded(t.context.pool, roundSchema, component),
            migrationNames(component, roundSchema),
          );
        }
      } finally {
        await t.context.pool.query(`drop schema if exists "${roundSchema}" cascade`);
      }
    }
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
  }
});
