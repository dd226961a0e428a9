import type { Kysely, Transaction } from "kysely";
import type { RecordedEvent } from "../../gateways/eventStore/EventStore.ts";

/**
 * A projection: a name, a version (a new version is built beside the old one from position zero),
 * the event types it reads, and what each event does to its tables. `apply` runs inside the
 * runner's transaction, which also advances the checkpoint: an event's effect lands exactly once.
 * Projections only write their own tables; they never send anything (so rebuilds are safe).
 */
export interface Projection<Tables> {
  readonly name: string;
  readonly version: number;
  readonly eventTypes: ReadonlySet<string>;
  /** Creates the projection's tables in `schema` (empty; called before the first event). */
  setUp(db: Kysely<Tables>, schema: string): Promise<void>;
  apply(trx: Transaction<Tables>, event: RecordedEvent, schema: string): Promise<void>;
}
