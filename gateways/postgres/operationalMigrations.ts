import { Kysely, PostgresDialect, sql, type Migration, type RawBuilder } from "kysely";
import type pg from "pg";
import { migrateSchema } from "./migrateSchema.ts";

/**
 * The operational tables (everything in PostgreSQL that is neither the event log nor a read
 * model) as kysely migrations, one history per component, each in the component's own schema:
 *
 * | component    | schema (runSystem)     | tables                                        |
 * | ------------ | ---------------------- | --------------------------------------------- |
 * | `fanout`     | `<prefix>_fanout`      | checkpoints, dead_letters, pending_retries    |
 * | `sms`        | `<prefix>_sms`         | deferred_wakeups                              |
 * | `banking`    | `<prefix>_banking`     | refresh_reads                                 |
 * | `scheduler`  | `<prefix>_scheduler`   | refresh_schedule                              |
 * | `commandApi` | the event store's      | idempotency_keys                              |
 *
 * One history per component rather than one per deployment: each store is built over a schema
 * (not a prefix), each role migrates only the components it runs, and the idempotency keys live
 * in the event store's schema whatever the prefix. The record of a component's history is
 * `<schema>.<component>_migrations`, so two components sharing a schema never see each other's.
 *
 * Every `0001` migration adopts what versions before the history created with `create table if
 * not exists`: it creates the table only if it is missing, so an existing table keeps its rows.
 * Later changes are new migrations, never edits of these. What the versions before a change live
 * with unharmed (a function they never call, an index) is an addition instead
 * (`operationalAdditions`, made if missing at every start), so that an older version can still
 * start over the same schema.
 */
export type OperationalComponent = "fanout" | "sms" | "banking" | "scheduler" | "commandApi";

const HISTORY: Record<OperationalComponent, string> = {
  fanout: "fanout_migrations",
  sms: "sms_migrations",
  banking: "banking_migrations",
  scheduler: "scheduler_migrations",
  commandApi: "command_api_migrations",
};

/** Brings `component`'s tables in `schema` up to date; safe to run from several processes at once. */
export async function migrateOperationalTables(
  pool: pg.Pool,
  component: OperationalComponent,
  schema: string,
): Promise<void> {
  await migrateSchema(pool, {
    schema,
    history: HISTORY[component],
    migrations: operationalMigrations(component, schema),
  });
  const statements = operationalAdditions(component, schema);
  if (statements.length === 0) return;
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  await db.transaction().execute(async (transaction) => {
    // Two processes starting at once would race on the catalog (a function replaced twice at once
    // fails): one at a time.
    await sql`select pg_advisory_xact_lock(hashtext(${`${schema}.${HISTORY[component]}.additions`}))`.execute(
      transaction,
    );
    for (const statement of statements) await statement.execute(transaction);
  });
}

/**
 * What `component` needs beside its tables that the versions before it live with unharmed (a
 * function they never call, an index): made if missing at every start, outside the migration
 * history. A version that does not know a recorded migration refuses to migrate, so these would
 * stop an older version started again (a rollback, a restart in the middle of an upgrade).
 */
export function operationalAdditions(component: OperationalComponent, schema: string): RawBuilder<unknown>[] {
  const table = tableIn(schema);
  switch (component) {
    case "banking":
      return [
        // A claim in one round trip instead of five (begin, lock, count, insert, commit): the same
        // steps inside a function, each statement of which sees what committed before its lock.
        sql`
          create or replace function ${table("claim_refresh_read")}(p_account_id text, p_day text, p_event_id uuid, p_per_day int)
          returns boolean
          language plpgsql as $fn$
          declare
            v_mine boolean;
            v_used bigint;
          begin
            -- The key the claims before this function took: old and new replicas serialise alike.
            perform pg_advisory_xact_lock(hashtext(${sql.lit(`${schema}:`)} || p_account_id || ':' || p_day));
            select coalesce(bool_or(event_id = p_event_id), false), count(*) into v_mine, v_used
              from ${table("refresh_reads")} where account_id = p_account_id and day = p_day::date;
            if v_mine then
              return true;
            end if;
            if v_used >= p_per_day then
              return false;
            end if;
            insert into ${table("refresh_reads")} (account_id, day, event_id) values (p_account_id, p_day::date, p_event_id);
            return true;
          end
          $fn$`,
        // Claims that waited for a round trip, in one: each as above, in the order of their locks'
        // keys, so that two such calls never wait for each other's locks in a circle.
        sql`
          create or replace function ${table("claim_refresh_reads")}(p_account_ids text[], p_days text[], p_event_ids uuid[], p_per_day int)
          returns boolean[]
          language plpgsql as $fn$
          declare
            v_granted boolean[] := array_fill(false, array[cardinality(p_account_ids)]);
            v_index int;
          begin
            for v_index in
              select claim from generate_subscripts(p_account_ids, 1) as claim
               order by hashtext(${sql.lit(`${schema}:`)} || p_account_ids[claim] || ':' || p_days[claim]), claim
            loop
              v_granted[v_index] := ${table("claim_refresh_read")}(p_account_ids[v_index], p_days[v_index], p_event_ids[v_index], p_per_day);
            end loop;
            return v_granted;
          end
          $fn$`,
        // PSD2 counts unattended reads in any 24 hours (RTS art. 36(5)(b)), not per calendar day:
        // claims by their time, the account's claims serialised by one key whatever the day.
        // (The two functions above stay for versions before this one.)
        sql`create index if not exists refresh_reads_account_claimed on ${table("refresh_reads")} (account_id, claimed_at)`,
        sql`
          create or replace function ${table("claim_refresh_read_within_day")}(p_account_id text, p_at timestamptz, p_event_id uuid, p_per_day int)
          returns boolean
          language plpgsql as $fn$
          declare
            v_used bigint;
          begin
            perform pg_advisory_xact_lock(hashtext(${sql.lit(`${schema}:`)} || p_account_id));
            -- And the key versions before this one took (the account and the UTC day), so that a
            -- claim of theirs and one of ours, during an upgrade, never both take the last read.
            perform pg_advisory_xact_lock(hashtext(${sql.lit(`${schema}:`)} || p_account_id || ':' || to_char(p_at at time zone 'UTC', 'YYYY-MM-DD')));
            if exists (select 1 from ${table("refresh_reads")} where account_id = p_account_id and event_id = p_event_id) then
              return true;
            end if;
            select count(*) into v_used from ${table("refresh_reads")}
              where account_id = p_account_id and claimed_at > p_at - interval '24 hours';
            if v_used >= p_per_day then
              return false;
            end if;
            insert into ${table("refresh_reads")} (account_id, day, event_id, claimed_at)
              values (p_account_id, (p_at at time zone 'UTC')::date, p_event_id, p_at);
            return true;
          end
          $fn$`,
        sql`
          create or replace function ${table("claim_refresh_reads_within_day")}(p_account_ids text[], p_ats timestamptz[], p_event_ids uuid[], p_per_day int)
          returns boolean[]
          language plpgsql as $fn$
          declare
            v_granted boolean[] := array_fill(false, array[cardinality(p_account_ids)]);
            v_index int;
          begin
            for v_index in
              select claim from generate_subscripts(p_account_ids, 1) as claim
               order by hashtext(${sql.lit(`${schema}:`)} || p_account_ids[claim]), claim
            loop
              v_granted[v_index] := ${table("claim_refresh_read_within_day")}(p_account_ids[v_index], p_ats[v_index], p_event_ids[v_index], p_per_day);
            end loop;
            return v_granted;
          end
          $fn$`,
      ];
    case "scheduler":
      return [
        // The due accounts are read earliest first: without this index each page of them scanned
        // and sorted the whole schedule (10 million rows at bank scale), about 14 times a tick.
        // Made once (seconds at 10 million rows, the schedule's writes waiting); then a no-op.
        sql`create index if not exists refresh_schedule_due on ${table("refresh_schedule")} (next_due_at, account_id)`,
      ];
    case "fanout":
    case "sms":
    case "commandApi":
      return [];
    default: {
      const unknown: never = component;
      throw new Error(`no operational additions for ${String(unknown)}`);
    }
  }
}

/** The migrations of `component`'s history in `schema`. */
export function operationalMigrations(
  component: OperationalComponent,
  schema: string,
): Record<string, Migration> {
  switch (component) {
    case "fanout":
      return fanoutMigrations(schema);
    case "sms":
      return smsMigrations(schema);
    case "banking":
      return bankingMigrations(schema);
    case "scheduler":
      return schedulerMigrations(schema);
    case "commandApi":
      return commandApiMigrations(schema);
    default: {
      const unknown: never = component;
      throw new Error(`no operational migrations for ${String(unknown)}`);
    }
  }
}

/** `name` in `schema`, as an identifier. */
function tableIn(schema: string): (name: string) => RawBuilder<unknown> {
  return (name) => sql.id(schema, name);
}

/** A migration that runs `statements` one after the other. */
function run(...statements: RawBuilder<unknown>[]): Migration {
  return {
    async up(db: Kysely<unknown>) {
      for (const statement of statements) await statement.execute(db);
    },
  };
}

/** The fan-out's checkpoints, dead letters and retry queue. */
function fanoutMigrations(schema: string): Record<string, Migration> {
  const table = tableIn(schema);
  return {
    // Where the relay and each in-process consumer stand in the log (gateways/fanout/FanoutCheckpoints.ts).
    "0001_checkpoints": run(sql`
          create table if not exists ${table("checkpoints")} (
            name text primary key,
            position text not null,
            updated_at timestamptz not null default now()
          )`),
    // The in-process fan-out's dead letters (gateways/fanout/DeadLetters.ts); tables made before
    // requeueing existed lack `requeued_at`.
    "0002_dead_letters": run(
      sql`
          create table if not exists ${table("dead_letters")} (
            consumer text not null,
            event_id uuid not null,
            event_type text not null,
            position text not null,
            attempts integer not null,
            error text not null,
            failed_at timestamptz not null default now(),
            event jsonb not null,
            requeued_at timestamptz,
            primary key (consumer, event_id)
          )`,
      sql`alter table ${table("dead_letters")} add column if not exists requeued_at timestamptz`,
    ),
    // The in-process fan-out's retry queue (gateways/fanout/PendingRetries.ts).
    "0003_pending_retries": run(
      sql`
          create table if not exists ${table("pending_retries")} (
            consumer text not null,
            event_id uuid not null,
            position text not null,
            attempts integer not null,
            error text not null,
            due_at timestamptz not null,
            event jsonb not null,
            primary key (consumer, event_id)
          )`,
      sql`create index if not exists pending_retries_due on ${table("pending_retries")} (consumer, due_at)`,
    ),
  };
}

/** The SMS reactor's deferred wake-ups. */
function smsMigrations(schema: string): Record<string, Migration> {
  const table = tableIn(schema);
  return {
    // When deferred notifications are due again (gateways/sms/DeferredWakeups.ts).
    "0001_deferred_wakeups": run(sql`
          create table if not exists ${table("deferred_wakeups")} (
            notification_id text primary key,
            due_at timestamptz not null
          )`),
  };
}

/** The banking gateway's budget of unattended reads. */
function bankingMigrations(schema: string): Record<string, Migration> {
  const table = tableIn(schema);
  return {
    // The daily budget of unattended balance reads (gateways/banking/RefreshBudget.ts).
    "0001_refresh_reads": run(sql`
          create table if not exists ${table("refresh_reads")} (
            account_id text not null,
            day date not null,
            event_id uuid not null,
            claimed_at timestamptz not null default now(),
            primary key (account_id, day, event_id)
          )`),
  };
}

/** The refresh scheduler's schedule. */
function schedulerMigrations(schema: string): Record<string, Migration> {
  const table = tableIn(schema);
  return {
    // When each open account's next scheduled refresh is due (reactors/runRefreshScheduler.ts).
    "0001_refresh_schedule": run(sql`
          create table if not exists ${table("refresh_schedule")} (
            account_id text primary key,
            next_due_at timestamptz not null
          )`),
  };
}

/** The command API's idempotency keys. */
function commandApiMigrations(schema: string): Record<string, Migration> {
  const table = tableIn(schema);
  return {
    // Idempotency-Key answers per caller (http/IdempotencyStore.ts).
    "0001_idempotency_keys": run(sql`
          create table if not exists ${table("idempotency_keys")} (
            caller text not null,
            key text not null,
            request_hash text not null,
            status int,
            content_type text,
            etag text,
            body text,
            created_at timestamptz not null default now(),
            primary key (caller, key)
          )`),
  };
}
