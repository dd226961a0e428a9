import type { TestFn } from "ava";
import pg from "pg";
import { TEST_DATABASE_URL } from "./postgresTestDatabase.ts";

// A PostgreSQL advisory lock stands for "the broker stays up": every test file runs in a process
// of its own, and PostgreSQL is what they all share.
const BROKER_UP = 0x726d7175; // "rmqu"

/**
 * Held by a test that restarts RabbitMQ (stop_app, start_app): it waits until no test that
 * cannot ride out a restart is running, and such tests wait until it is done. The system's own
 * relay and consumers reconnect by themselves; a test's own connections (fixtures published,
 * queues inspected) do not. Returns the release.
 */
export function holdWhileRestartingTheBroker(): Promise<() => Promise<void>> {
  return hold("pg_advisory_lock", "pg_advisory_unlock");
}

/** Held by a test file whose own broker connections would not survive a restart. Returns the release. */
export function holdTheBrokerUp(): Promise<() => Promise<void>> {
  return hold("pg_advisory_lock_shared", "pg_advisory_unlock_shared");
}

/**
 * For a test file whose own connections (fixtures, queue checks) would not ride out the fan-out
 * fault tests' broker restarts: holds the broker up from its first test to its last, so those
 * tests wait for this file, and it for them.
 */
export function keepTheBrokerUpDuring<Context>(test: TestFn<Context>): void {
  let release: (() => Promise<void>) | undefined;
  test.before(async () => {
    release = await holdTheBrokerUp();
  });
  test.after.always(async () => {
    await release?.();
  });
}

async function hold(lock: string, unlock: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    // Under the longest test timeout of a holder (a restart test's 300 s): a waiter whose test
    // timed out fails here instead of restarting the broker later, under another test.
    await client.query(`set lock_timeout = '240s'`);
    await client.query(`select ${lock}($1)`, [BROKER_UP]);
  } catch (error) {
    await client.end();
    throw error;
  }
  return async () => {
    await client.query(`select ${unlock}($1)`, [BROKER_UP]).catch(() => undefined);
    await client.end();
  };
}
