import type { Kysely } from "kysely";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "./Projection.ts";
import { executeWrites } from "./writeRows.ts";

/**
 * Folds `events` (of the projection's types, in log order) into the build in `schema` and writes
 * the result, without a checkpoint: for a caller that holds the build otherwise, e.g. a swap's
 * transaction bringing a build up to a position, or a read-model test.
 */
export async function applyEvents<Tables>(
  db: Kysely<Tables>,
  projection: Projection<Tables>,
  events: readonly EventWithoutMetadata[],
  schema: string,
): Promise<void> {
  if (events.length === 0) return;
  await executeWrites(db, schema, await projection.foldBatch(db, events, schema));
}
