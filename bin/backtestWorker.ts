import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { serveBacktestPart } from "../projections/backtest/serveBacktestPart.ts";
import type { PostgresBacktestStore } from "./backtestThreadsFor.ts";

/**
 * A backtest's thread (not a command): replays one part of a shared log snapshot of the
 * PostgreSQL event store (`replayInThreads`), on one connection of its own.
 */
await serveBacktestPart((described) => {
  const { databaseUrl, schema } = described as PostgresBacktestStore;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  return Promise.resolve({
    store: new PostgresEventStore(pool, schema === undefined ? {} : { schema }),
    close: () => pool.end(),
  });
});
