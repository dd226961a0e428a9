import { randomBytes } from "node:crypto";
import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";

/** Where integration tests find PostgreSQL: `npm run services` starts it and prints this URL. */
export const TEST_DATABASE_URL =
  process.env.DATABASE_URL ?? "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";

export interface TestDatabase {
  readonly pool: pg.Pool;
  /** A schema of its own, so test files running in parallel never see each other's rows. */
  readonly schema: string;
  dispose(): Promise<void>;
}

/**
 * Connects to the real PostgreSQL the services script started. A missing server fails the test
 * (connection refused) rather than skipping it.
 */
export async function openTestDatabase(poolSize = 20): Promise<TestDatabase> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: poolSize });
  const schema = `test_${randomBytes(6).toString("hex")}`;
  await pool.query("select 1");
  return {
    pool,
    schema,
    async dispose() {
      await pool.query(`drop schema if exists "${schema}" cascade`);
      await pool.end();
    },
  };
}

/** A test database with the event store migrated into its schema, and a store over it. */
export interface TestEventStore {
  readonly database: TestDatabase;
  readonly store: PostgresEventStore;
  /** Closes the store, drops the schema (and any `extraSchemas`), ends the pool. */
  readonly dispose: (extraSchemas?: readonly string[]) => Promise<void>;
}

export async function openTestEventStore(poolSize = 20): Promise<TestEventStore> {
  const database = await openTestDatabase(poolSize);
  await PostgresEventStore.migrate(database.pool, database.schema);
  const store = new PostgresEventStore(database.pool, { schema: database.schema });
  return {
    database,
    store,
    async dispose(extraSchemas = []) {
      await store.close();
      for (const schema of extraSchemas)
        await database.pool.query(`drop schema if exists "${schema}" cascade`);
      await database.dispose();
    },
  };
}
