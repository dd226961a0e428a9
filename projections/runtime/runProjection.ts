import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import type pg from "pg";
import type { EventStore, RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import type { Position } from "../../gateways/eventStore/Position.ts";
import { createCheckpointTable, readCheckpoint, type CheckpointTables } from "./checkpoints.ts";
import type { Projection } from "./Projection.ts";
import { ProjectionFailedError } from "./ProjectionFailedError.ts";

/** What a running projection reports after each batch and when it catches up. */
export interface ProjectionProgress {
  readonly projection: string;
  readonly version: number;
  readonly position: Position;
  readonly caughtUp: boolean;
  /** Events applied since start (those of the projection's types). */
  readonly applied: number;
  /** Seconds between the last applied event being recorded and now. */
  readonly lagSeconds: number;
}

export interface RunProjectionOptions<Tables> {
  /** For the lease: one connection holds the projection's advisory lock while it runs. */
  readonly pool: pg.Pool;
  readonly db: Kysely<Tables>;
  readonly store: EventStore;
  readonly projection: Projection<Tables>;
  /** Schema of the projection's tables (one per projection version, so versions build side by side). */
  readonly schema: string;
  /** Schema of the checkpoint table. */
  readonly runtimeSchema: string;
  readonly signal: AbortSignal;
  readonly batchSize?: number;
  readonly onProgress?: (progress: ProjectionProgress) => void;
  /** Clock for lag; the runtime's only use of time. */
  readonly now?: () => number;
}

// First key of projection leases; the second is hashtext(name:version).
const LEASE_CLASS = 0x70726f6a; // "proj"
const STANDBY_POLL_MS = 1000;

/** The checkpoint moved under us: another runner holds this projection. */
export class LeaseLostError extends Error {
  readonly code = "lease_lost";
}

/**
 * Runs one projection until `signal` aborts: takes the lease (a standby waits for it), catches up
 * from its checkpoint, then follows the log live. Each batch is applied and the checkpoint
 * advanced in one transaction, guarded by the previous checkpoint, so an event's effect lands
 * exactly once even if two runners ever overlap.
 * @throws ProjectionFailedError naming the event that could not be applied.
 */
export async function runProjection<Tables>(options: RunProjectionOptions<Tables>): Promise<void> {
  const { projection, signal } = options;
  const now = options.now ?? Date.now;
  const lease = await options.pool.connect();
  const leaseKey = `${projection.name}:${projection.version}`;
  try {
    while (!signal.aborted) {
      const { rows } = await lease.query<{ acquired: boolean }>(
        "select pg_try_advisory_lock($1, hashtext($2)) as acquired",
        [LEASE_CLASS, leaseKey],
      );
      if (rows[0]?.acquired === true) break;
      await sleep(STANDBY_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
    if (signal.aborted) return;

    // The checkpoint table shares the projection's connection pool but not its table types.
    const untyped = options.db as unknown as Kysely<unknown>;
    const checkpoints = untyped.withSchema(options.runtimeSchema) as Kysely<CheckpointTables>;
    await createCheckpointTable(untyped, options.runtimeSchema);
    await untyped.schema.createSchema(options.schema).ifNotExists().execute();
    await projection.setUp(options.db, options.schema);
    let position = await readCheckpoint(checkpoints, projection.name, projection.version);
    let applied = 0;
    let lastRecordedAt: Date | undefined;
    let caughtUp = false;

    const subscription = options.store.subscribe({ from: position, batchSize: options.batchSize ?? 500 });
    const onAbort = () => void subscription.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const message of subscription) {
        if (message.kind === "caughtUp") {
          caughtUp = true;
        } else {
          const relevant = message.events.filter((event) => projection.eventTypes.has(event.type));
          const last = message.events.at(-1);
          if (last === undefined) continue;
          await applyBatch(options, relevant, position, last.position);
          position = last.position;
          applied += relevant.length;
          lastRecordedAt = relevant.at(-1)?.recordedAt ?? lastRecordedAt;
        }
        options.onProgress?.({
          projection: projection.name,
          version: projection.version,
          position,
          caughtUp,
          applied,
          lagSeconds:
            caughtUp || lastRecordedAt === undefined ? 0 : (now() - lastRecordedAt.getTime()) / 1000,
        });
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      await subscription.close();
    }
  } finally {
    await lease
      .query("select pg_advisory_unlock($1, hashtext($2))", [LEASE_CLASS, leaseKey])
      .catch(() => undefined);
    lease.release();
  }
}

async function applyBatch<Tables>(
  options: RunProjectionOptions<Tables>,
  events: readonly RecordedEvent[],
  from: Position,
  to: Position,
): Promise<void> {
  const { projection } = options;
  await options.db.transaction().execute(async (trx) => {
    for (const event of events) {
      try {
        await projection.apply(trx, event, options.schema);
      } catch (error) {
        throw new ProjectionFailedError(projection.name, event.id, event.type, event.position, error);
      }
    }
    const result = await (trx.withSchema(options.runtimeSchema) as unknown as Kysely<CheckpointTables>)
      .updateTable("projection_checkpoints")
      .set({ position: to, updated_at: new Date() })
      .where("name", "=", projection.name)
      .where("version", "=", projection.version)
      .where("position", "=", from)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      throw new LeaseLostError(`projection ${projection.name}: checkpoint moved under this runner; stopping`);
    }
  });
}
