import { randomUUID } from "node:crypto";
import pg from "pg";
import type { EventToAppend, ExpectedRevision } from "../../gateways/eventStore/EventStore.ts";
import { START } from "../../gateways/eventStore/Position.ts";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import type { EventStoreBenchmarkConfig } from "./EventStoreBenchmarkConfig.ts";
import { sampleDeposit } from "./sampleDeposit.ts";
import type { StoreUnderTest, StreamWriter } from "./StoreUnderTest.ts";

/** Tidemark's PostgresEventStore in its benchmark schema (migrated here, emptied by the caller). */
export async function openTidemarkStore(config: EventStoreBenchmarkConfig): Promise<StoreUnderTest> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.poolSize });
  const { schema, maxInFlightBatches, maxBatchAppends, minSplitEvents, readPageSize } = config.tidemark;
  try {
    await PostgresEventStore.migrate(pool, schema);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const store = new PostgresEventStore(pool, {
    schema,
    maxInFlightBatches,
    maxBatchAppends,
    minSplitEvents,
    readPageSize,
  });
  const newId = config.tidemark.eventIds === "tidemark" ? newEventId : randomUUID;
  return {
    openStreamWriter: () => new TidemarkStreamWriter(store, newId),
    async readWholeLog() {
      let events = 0;
      const log = store.readAll(START)[Symbol.asyncIterator]();
      while (!(await log.next()).done) events += 1;
      return events;
    },
    async close() {
      await store.close();
      await pool.end();
    },
  };
}

class TidemarkStreamWriter implements StreamWriter {
  readonly #accountId = randomUUID();
  readonly #streamId = `account-${this.#accountId}`;
  #expected: ExpectedRevision = "no_stream";

  constructor(
    private readonly store: PostgresEventStore,
    private readonly newId: () => string,
  ) {}

  async append(eventCount: number): Promise<void> {
    const events: EventToAppend[] = Array.from({ length: eventCount }, () => ({
      id: this.newId(),
      ...sampleDeposit(this.#accountId),
    }));
    const { nextRevision } = await this.store.append(this.#streamId, this.#expected, events);
    this.#expected = nextRevision;
  }
}
