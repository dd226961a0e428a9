import type { Kysely } from "kysely";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { RowWrite } from "./writeRows.ts";

/**
 * A projection: a name, a version (a new version is built beside the old one from position zero),
 * the event types it reads, the tables it owns, and what a batch of events does to those tables.
 *
 * Every build of a projection lives in a schema of its own; the query API reads the live build
 * through views named after `tables` in the read schema, which a blue/green swap re-points in one
 * transaction.
 *
 * Rules a projection keeps:
 * - `foldBatch` reads the rows a batch touches, folds the events into them in memory and returns
 *   the writes that store the result; it writes nothing itself. The runner sends those writes in
 *   one statement together with the checkpoint's advance (guarded by the previous checkpoint), so
 *   an event's effect lands exactly once, and a batch costs two round trips (read, write) whatever
 *   its size. The reads may run outside that statement's transaction: only the runner holding the
 *   build's lease writes its tables, and a write that raced it would have moved the checkpoint.
 * - Each row is written at most once per batch, and writes of one batch do not depend on each
 *   other (they run as parts of one statement, on one snapshot).
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
  /**
   * What events (in log order, all of `eventTypes`, never empty) do to the tables in `schema`:
   * the rows they touch are read through `reader`, and the writes returned.
   */
  foldBatch(
    reader: Kysely<Tables>,
    events: readonly EventWithoutMetadata[],
    schema: string,
  ): Promise<readonly RowWrite[]>;
}

/** Any projection, whatever its tables: what the runtime, the CLI and the query API handle. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the runtime never looks at a projection's table types
export type AnyProjection = Projection<any>;
