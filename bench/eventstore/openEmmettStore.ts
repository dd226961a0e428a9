import { randomUUID } from "node:crypto";
import { dumbo } from "@event-driven-io/dumbo";
import { getPostgreSQLEventStore, readMessagesBatch } from "@event-driven-io/emmett-postgresql";
import type { PostgresEventStore } from "@event-driven-io/emmett-postgresql";
import pg from "pg";
import type { EventStoreBenchmarkConfig } from "./EventStoreBenchmarkConfig.ts";
import { sampleDeposit } from "./sampleDeposit.ts";
import type { StoreUnderTest, StreamWriter } from "./StoreUnderTest.ts";

// Emmett counts stream versions from 1; version 0 means "no stream yet", and appending at it
// inserts the stream row, so a concurrent creator fails on its key (Emmett's STREAM_DOES_NOT_EXIST
// constant, by contrast, is sent as "no check").
const NEW_STREAM_VERSION = 0n;

/**
 * Emmett's PostgreSQL event store in its own database, on a pg.Pool of the same size Tidemark
 * gets. Loading dumbo changes pg's global type parsers (int8 → BigInt, its own JSON parser), which
 * is one reason every measurement runs in a process of its own.
 */
export async function openEmmettStore(config: EventStoreBenchmarkConfig): Promise<StoreUnderTest> {
  const connectionString = config.emmettDatabaseUrl;
  const pool = new pg.Pool({ connectionString, max: config.poolSize });
  const connections = dumbo({ connectionString, pool });
  const store = getPostgreSQLEventStore(connectionString, {
    connectionOptions: { dumbo: connections },
    // Migrated once here rather than lazily inside the first (timed) append.
    schema: { autoMigration: "None" },
  });
  try {
    await store.schema.migrate();
  } catch (error) {
    await pool.end();
    throw error;
  }
  const { readBatchSize } = config.emmett;
  return {
    openStreamWriter: () => new EmmettStreamWriter(store),
    // Emmett's EventStore has no read-all; readMessagesBatch is the paged global read its own
    // consumers use (without their polling sleeps between batches).
    async readWholeLog() {
      let events = 0;
      let after = 0n;
      for (;;) {
        const batch = await readMessagesBatch(connections.execute, { after, batchSize: readBatchSize });
        events += batch.messages.length;
        if (!batch.areMessagesLeft || batch.messages.length === 0) return events;
        after = batch.currentGlobalPosition;
      }
    },
    async close() {
      await store.close();
      await pool.end();
    },
  };
}

class EmmettStreamWriter implements StreamWriter {
  readonly #accountId = randomUUID();
  readonly #streamName = `account-${this.#accountId}`;
  #expectedVersion = NEW_STREAM_VERSION;

  constructor(private readonly store: PostgresEventStore) {}

  async append(eventCount: number): Promise<void> {
    const events = Array.from({ length: eventCount }, () => sampleDeposit(this.#accountId));
    const { nextExpectedStreamVersion } = await this.store.appendToStream(this.#streamName, events, {
      expectedStreamVersion: this.#expectedVersion,
    });
    this.#expectedVersion = nextExpectedStreamVersion;
  }
}
