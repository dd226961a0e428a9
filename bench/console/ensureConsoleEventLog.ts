import type pg from "pg";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { ensureBenchmarkEventLog, type BenchmarkEventLog } from "../shared/ensureBenchmarkEventLog.ts";
import type { ConsoleBenchmarkConfig } from "./ConsoleBenchmarkConfig.ts";
import type { ConsoleBenchmarkOptions } from "./parseConsoleBenchmarkOptions.ts";

/** The log the console reads: the benchmark log, and one account with a long history in it. */
export interface ConsoleEventLog extends BenchmarkEventLog {
  readonly busyAccountId: string;
  /** Events the busy account's history added (its stream and its notifications' streams). */
  readonly busyAccountEvents: number;
}

/** The busy account's own record of a finished history; without it (interrupted) the log is made again. */
const BUSY_TABLE = "bench_console_busy_account";

/**
 * Makes sure `config.logSchema` holds the benchmark event log (`ensureBenchmarkEventLog`:
 * `options.events` events, accounts = events / 50, seed 1) plus one busy account: a second
 * `generateEventLog` call for one account under its own prefix, whose balances come every
 * `stepMs` instead of hourly, so that about `events` events (its timeline) fall into the same
 * days as the rest of the log. Both are reused by later runs unless `options.fresh`.
 */
export async function ensureConsoleEventLog(
  pool: pg.Pool,
  config: ConsoleBenchmarkConfig,
  options: ConsoleBenchmarkOptions,
  progress: (message: string) => void,
): Promise<ConsoleEventLog> {
  const schema = config.logSchema;
  let log = await ensureBenchmarkEventLog(pool, schema, options.events, options.fresh, progress);
  const busyAccountId = `${config.busyAccount.prefix}-0`;
  let busyAccountEvents = await readBusyAccount(pool, schema);
  if (busyAccountEvents === undefined && (await streamExists(pool, schema, `account-${busyAccountId}`))) {
    progress(`the busy account's history in ${schema} was not finished: generating the log again`);
    log = await ensureBenchmarkEventLog(pool, schema, options.events, true, progress);
  }
  if (busyAccountEvents === undefined) {
    busyAccountEvents = await addBusyAccount(pool, config);
    progress(`added ${busyAccountId}: ${busyAccountEvents} events`);
    log = { ...log, events: log.events + busyAccountEvents };
  }
  return { ...log, busyAccountId, busyAccountEvents };
}

async function addBusyAccount(pool: pg.Pool, config: ConsoleBenchmarkConfig): Promise<number> {
  const schema = config.logSchema;
  const store = new PostgresEventStore(pool, { schema });
  let written: number;
  try {
    const { prefix, events, stepMs, seed } = config.busyAccount;
    written = await generateEventLog(
      store,
      { accounts: 1, events, prefix, stepMs, seed, writers: 1 },
      await loadRules(),
    );
  } finally {
    await store.close();
  }
  await pool.query(`create table "${schema}".${BUSY_TABLE} (events int not null)`);
  await pool.query(`insert into "${schema}".${BUSY_TABLE} (events) values ($1)`, [written]);
  return written;
}

async function readBusyAccount(pool: pg.Pool, schema: string): Promise<number | undefined> {
  const { rows: tables } = await pool.query<{ present: boolean }>(
    "select to_regclass($1) is not null as present",
    [`"${schema}".${BUSY_TABLE}`],
  );
  if (tables[0]?.present !== true) return undefined;
  const { rows } = await pool.query<{ events: number }>(`select events from "${schema}".${BUSY_TABLE}`);
  return rows[0]?.events;
}

async function streamExists(pool: pg.Pool, schema: string, streamId: string): Promise<boolean> {
  const { rows } = await pool.query<{ found: boolean }>(
    `select exists (select 1 from "${schema}".events where stream_id = $1) as found`,
    [streamId],
  );
  return rows[0]?.found === true;
}
