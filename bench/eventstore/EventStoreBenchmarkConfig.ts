import { POSTGRES_EVENT_STORE_DEFAULTS } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";

/**
 * The event stores the benchmark compares; `raw` is pgbench inserting rows, the ceiling; `rows` is
 * pgbench inserting Tidemark's own event rows straight into its log table (its columns, indexes and
 * trigger, no function, nothing to parse): what that table costs before any adapter work.
 */
export type SystemName = "tidemark" | "emmett" | "raw" | "rows";

export const SYSTEM_NAMES: readonly SystemName[] = ["tidemark", "emmett", "raw", "rows"];

/**
 * The event ids Tidemark's benchmark writers send: `tidemark`, those its own writers use
 * (`newEventId`, time-ordered UUIDv7), or `random` (UUIDv4, as a client of its own choosing might).
 */
export type EventIdKind = "tidemark" | "random";

export const EVENT_ID_KINDS: readonly EventIdKind[] = ["tidemark", "random"];

/** Display names, in the order the report's columns use. */
export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = {
  tidemark: "Tidemark",
  emmett: "Emmett",
  raw: "pgbench raw",
  rows: "pgbench, Tidemark's rows",
};

/**
 * Where each system keeps its data and how it is tuned. It is printed at the top of every report,
 * so that a table never travels without the settings that produced it.
 */
export interface EventStoreBenchmarkConfig {
  /** The database holding Tidemark's schema and pgbench's table. */
  readonly databaseUrl: string;
  /** A database of its own for Emmett: its tables have fixed names in `public`. */
  readonly emmettDatabaseUrl: string;
  /** `max` of every pg.Pool the benchmark opens for a store (both stores get the same). */
  readonly poolSize: number;
  readonly tidemark: {
    readonly schema: string;
    readonly maxInFlightBatches: number;
    readonly maxBatchAppends: number;
    readonly minSplitEvents: number;
    readonly readPageSize: number;
    readonly eventIds: EventIdKind;
  };
  readonly emmett: {
    readonly database: string;
    /** Rows per `readMessagesBatch` call when reading the whole log (Tidemark's page size). */
    readonly readBatchSize: number;
  };
  readonly raw: {
    readonly table: string;
  };
  readonly rows: {
    /** A store schema of its own, migrated like Tidemark's; pgbench writes its `events` table. */
    readonly schema: string;
  };
}

const DEFAULT_DATABASE_URL = "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
const EMMETT_DATABASE = "bench_emmett";

/**
 * The benchmark's settings. `DATABASE_URL` (as for the integration tests) points it at another
 * server; everything else is fixed so that runs stay comparable.
 */
export function eventStoreBenchmarkConfig(
  env: NodeJS.ProcessEnv,
  eventIds: EventIdKind = "tidemark",
): EventStoreBenchmarkConfig {
  const databaseUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  let emmettUrl: URL;
  try {
    emmettUrl = new URL(databaseUrl);
  } catch {
    throw new Error(`DATABASE_URL is not a URL: ${databaseUrl}`);
  }
  emmettUrl.pathname = `/${EMMETT_DATABASE}`;
  return {
    databaseUrl,
    emmettDatabaseUrl: emmettUrl.toString(),
    poolSize: 20,
    // The store's own defaults, spelled out so the report shows them.
    tidemark: {
      schema: "bench_tidemark",
      maxInFlightBatches: POSTGRES_EVENT_STORE_DEFAULTS.maxInFlightBatches,
      maxBatchAppends: POSTGRES_EVENT_STORE_DEFAULTS.maxBatchAppends,
      minSplitEvents: POSTGRES_EVENT_STORE_DEFAULTS.minSplitEvents,
      readPageSize: POSTGRES_EVENT_STORE_DEFAULTS.readPageSize,
      eventIds,
    },
    emmett: { database: EMMETT_DATABASE, readBatchSize: 1000 },
    raw: { table: "bench_raw" },
    rows: { schema: "bench_tidemark_rows" },
  };
}
