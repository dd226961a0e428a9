import type { Kysely, Transaction } from "kysely";
import type { RecordedEvent } from "../../gateways/eventStore/EventStore.ts";

/**
 * A projection: a name, a version (a new version is built beside the old one from position zero),
 * the event types it reads, the tables it owns, and what a batch of events does to those tables.
 *
 * Every build of a projection lives in a schema of its own; the query API reads the live build
 * through views named after `tables` in the read schema, which a blue/green swap re-points in one
 * transaction.
 *
 * Rules a projection keeps:
 * - `applyBatch` runs inside the runner's transaction, which also advances the checkpoint: an
 *   event's effect lands exactly once. It should touch each row once per batch (load, fold in
 *   memory, write back set-based): rebuilds replay the whole log through it.
 * - Rows depend only on the events (never on the clock or on randomness), so two builds over the
 *   same log have the same content and the same digest.
 * - Projections only write their own tables; they never send anything, so rebuilds are safe.
 */
export interface Projection<Tables> {
  readonly name: string;
  readonly version: number;
  readonly eventTypes: ReadonlySet<string>;
  /** The tables `setUp` creates; each gets a view of the same name in the read schema. */
  readonly tables: readonly (keyof Tables & string)[];
  /** Creates the projection's tables (empty) in `schema`, which exists already. */
  setUp(db: Kysely<Tables>, schema: string): Promise<void>;
  /** Applies events (in log order, all of `eventTypes`, never empty) to the tables in `schema`. */
  applyBatch(trx: Transaction<Tables>, events: readonly RecordedEvent[], schema: string): Promise<void>;
}

/** Any projection, whatever its tables: what the runtime, the CLI and the query API handle. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the runtime never looks at a projection's table types
export type AnyProjection = Projection<any>;
