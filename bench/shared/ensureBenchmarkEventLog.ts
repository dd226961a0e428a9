import { performance } from "node:perf_hooks";
import type pg from "pg";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";

/** The log the rebuilds read: how it came to be, and what it holds. */
export interface BenchmarkEventLog {
  readonly schema: string;
  readonly events: number;
  readonly accounts: number;
  /** True when an earlier run's log was found big enough and used as it was. */
  readonly reused: boolean;
  /** When it was generated, and how long that took. */
  readonly generatedAt: Date;
  readonly generationSeconds: number;
}

/** The log's own record of a finished generation; without it (interrupted) the log is not reused. */
const SHAPE_TABLE = "bench_event_log";
const SEED = 1;
const WRITERS = 32;
const EVENTS_PER_ACCOUNT = 50;

/**
 * Makes sure `schema` holds a generated event log of at least `events` events (accounts =
 * events / 50, seed 1, written through the real deciders by `generateEventLog`). An earlier run's
 * log is reused when its generation finished and it is big enough, unless `fresh`; otherwise the
 * schema is dropped and the log generated again, which takes a minute or so per million events.
 */
export async function ensureBenchmarkEventLog(
  pool: pg.Pool,
  schema: string,
  events: number,
  fresh: boolean,
  progress: (message: string) => void,
): Promise<BenchmarkEventLog> {
  if (!fresh) {
    const existing = await readFinishedLog(pool, schema);
    if (existing !== undefined && existing.events >= events) return { ...existing, schema, reused: true };
    if (existing !== undefined) {
      progress(`schema ${schema} holds ${existing.events} events, fewer than ${events}: generating again`);
    }
  }
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await PostgresEventStore.migrate(pool, schema);
  const accounts = Math.max(1, Math.round(events / EVENTS_PER_ACCOUNT));
  const store = new PostgresEventStore(pool, { schema });
  const startedAt = performance.now();
  let reported = 0;
  let written: number;
  try {
    written = await generateEventLog(
      store,
      {
        accounts,
        events,
        seed: SEED,
        writers: WRITERS,
        onProgress: (count) => {
          if (count - reported < events / 10) return;
          reported = count;
          progress(`generating the event log: ${count} of ~${events} events`);
        },
      },
      await loadRules(),
    );
  } finally {
    await store.close();
  }
  const generationSeconds = (performance.now() - startedAt) / 1000;
  await pool.query(
    `create table "${schema}".${SHAPE_TABLE} (events bigint not null, accounts int not null,
      seed int not null, seconds float8 not null, generated_at timestamptz not null default now())`,
  );
  await pool.query(
    `insert into "${schema}".${SHAPE_TABLE} (events, accounts, seed, seconds) values ($1, $2, $3, $4)`,
    [written, accounts, SEED, generationSeconds],
  );
  return {
    schema,
    events: written,
    accounts,
    reused: false,
    generatedAt: new Date(),
    generationSeconds,
  };
}

async function readFinishedLog(
  pool: pg.Pool,
  schema: string,
): Promise<Omit<BenchmarkEventLog, "schema" | "reused"> | undefined> {
  const { rows: tables } = await pool.query<{ present: boolean }>(
    "select to_regclass($1) is not null as present",
    [`"${schema}".${SHAPE_TABLE}`],
  );
  if (tables[0]?.present !== true) return undefined;
  const { rows } = await pool.query<{ accounts: number; seconds: number; generated_at: Date }>(
    `select accounts, seconds, generated_at from "${schema}".${SHAPE_TABLE}`,
  );
  const shape = rows[0];
  if (shape === undefined) return undefined;
  // Counted, not trusted from the record: the log is what the rebuild will read.
  const { rows: counted } = await pool.query<{ events: string }>(
    `select count(*) as events from "${schema}".events`,
  );
  return {
    events: Number(counted[0]?.events ?? 0),
    accounts: shape.accounts,
    generatedAt: shape.generated_at,
    generationSeconds: shape.seconds,
  };
}
