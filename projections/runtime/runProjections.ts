import { sql, type Kysely } from "kysely";
import type pg from "pg";
import type {
  EventStore,
  EventWithoutMetadata,
  SubscriptionMessage,
} from "../../gateways/eventStore/EventStore.ts";
import { AdvisoryLease } from "../../gateways/postgres/AdvisoryLease.ts";
import { START, type Position } from "../../gateways/eventStore/Position.ts";
import type { AnyProjection } from "./Projection.ts";
import { ProjectionFailedError } from "./ProjectionFailedError.ts";
import { buildsWriteStatement, writeStatement, type RowWrite } from "./writeRows.ts";
import {
  recordBuildFailure,
  registry,
  type BuildStatus,
  type ProjectionSchemas,
} from "./ProjectionBuilds.ts";

/** One build to fill: a projection and the schema of the build its events go to. */
export interface ProjectionTarget {
  readonly projection: AnyProjection;
  readonly buildSchema: string;
}

/** What the runner reports after each batch and when it catches up, per build. */
export interface ProjectionProgress {
  readonly projection: string;
  readonly version: number;
  readonly buildSchema: string;
  readonly position: Position;
  readonly caughtUp: boolean;
  /** Events applied since start (those of the projection's types). */
  readonly applied: number;
  /** Events read from the log since start (every type): the runner's throughput. */
  readonly read: number;
  /** Seconds between the last event read being recorded and now; 0 once live and idle. */
  readonly lagSeconds: number;
}

/** How a build's run ended: stopped (signal, or caught up when asked), retired by a swap, or failed. */
export type TargetOutcome =
  | { readonly outcome: "stopped"; readonly position: Position }
  | { readonly outcome: "retired"; readonly position: Position }
  | { readonly outcome: "failed"; readonly error: ProjectionFailedError | Error };

export interface RunProjectionsOptions {
  /** For the leases: one connection per build holds its advisory lock while it runs. */
  readonly pool: pg.Pool;
  readonly db: Kysely<unknown>;
  readonly store: EventStore;
  readonly schemas: ProjectionSchemas;
  readonly targets: readonly ProjectionTarget[];
  /** The registry status each build must keep; a build found otherwise stops as `retired`. */
  readonly expectedStatus: "live" | "building";
  readonly signal: AbortSignal;
  /** Stop once the log's head is reached (rebuilds); otherwise follow the log live. */
  readonly stopWhenCaughtUp?: boolean;
  readonly batchSize?: number;
  readonly onProgress?: (progress: ProjectionProgress) => void;
  /** Said once when a build has to wait for another runner's lease. */
  readonly onStandby?: (buildSchema: string) => void;
  /** Clock for lag; the runtime's only use of time. */
  readonly now?: () => number;
}

/** Batches of at most this many events are written to every build in one statement. */
const TOGETHER_UP_TO = 500;
// First key of build leases; the second is hashtext(build schema).
const LEASE_CLASS = 0x70726f6a; // "proj"
const STANDBY_POLL_MS = 1000;

/**
 * Fills several builds from one subscription to the log (one read serves every projection).
 * Each build holds its lease (a PostgreSQL advisory lock; another runner of the same build waits
 * as a standby) and its own checkpoint; every batch is applied to a build and its checkpoint
 * advanced in one transaction, guarded by the build's previous checkpoint and status, so each
 * event's effect lands exactly once. Builds run side by side: one failing stops only itself.
 * Returns when the signal aborts, when caught up (if asked), or when every build has ended; a
 * swap that retires a live build ends the whole run, so its caller can start over on the new builds.
 */
export async function runProjections(options: RunProjectionsOptions): Promise<Map<string, TargetOutcome>> {
  const outcomes = new Map<string, TargetOutcome>();
  const leases: AdvisoryLease[] = [];
  // A lease connection that breaks has lost its lock: stop, so that another runner may take over.
  const run = new AbortController();
  const stop = () => run.abort();
  // A listener added to a signal already aborted never fires: look first.
  if (options.signal.aborted) run.abort();
  else options.signal.addEventListener("abort", stop, { once: true });
  try {
    for (const target of options.targets) {
      const lease = await AdvisoryLease.take({
        pool: options.pool,
        classId: LEASE_CLASS,
        name: target.buildSchema,
        signal: run.signal,
        onLost: () => run.abort(),
        onStandby: () => options.onStandby?.(target.buildSchema),
        pollMs: STANDBY_POLL_MS,
      });
      if (lease === undefined) return outcomes;
      leases.push(lease);
    }
    return await follow({ ...options, signal: run.signal }, outcomes);
  } finally {
    options.signal.removeEventListener("abort", stop);
    for (const lease of leases) await lease.release();
  }
}

interface RunningTarget extends ProjectionTarget {
  position: Position;
  applied: number;
}

async function follow(
  options: RunProjectionsOptions,
  outcomes: Map<string, TargetOutcome>,
): Promise<Map<string, TargetOutcome>> {
  const running = await runningTargets(options, outcomes);
  if (running.length === 0) return outcomes;

  const from = running
    .map((target) => target.position)
    .reduce((a, b) => (a < b ? a : b), running[0]?.position ?? START);
  const subscription = options.store.subscribeWithoutMetadata({ from, batchSize: options.batchSize ?? 1000 });
  const onAbort = () => void subscription.close();
  // Stopped while the leases and checkpoints were being read: a listener added now would never fire.
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener("abort", onAbort, { once: true });
  const iterator = subscription[Symbol.asyncIterator]();
  let read = 0;
  let caughtUp = false;
  let lastRecordedAt: Date | undefined;
  // Read the next batch while the current one is applied: reading and writing overlap.
  let next = iterator.next();
  try {
    while (running.length > 0) {
      const result: IteratorResult<SubscriptionMessage<EventWithoutMetadata>> = await next;
      if (result.done === true) break;
      next = iterator.next();
      const message = result.value;
      if (message.kind === "caughtUp") {
        caughtUp = true;
      } else {
        read += message.events.length;
        lastRecordedAt = message.events.at(-1)?.recordedAt ?? lastRecordedAt;
        const retired = await applyToEveryTarget(options, running, outcomes, message.events);
        if (retired) break;
      }
      reportProgress(options, running, { caughtUp, read, lastRecordedAt });
      if (caughtUp && options.stopWhenCaughtUp === true) break;
    }
  } finally {
    options.signal.removeEventListener("abort", onAbort);
    next.catch(() => undefined); // the read ahead ends with the subscription
    await subscription.close();
  }
  for (const target of running) {
    if (!outcomes.has(target.buildSchema)) {
      outcomes.set(target.buildSchema, { outcome: "stopped", position: target.position });
    }
  }
  return outcomes;
}

/**
 * The builds to fill, each from its checkpoint; a build whose registry status is no longer the
 * expected one is not run, and its outcome is `retired`.
 */
async function runningTargets(
  options: RunProjectionsOptions,
  outcomes: Map<string, TargetOutcome>,
): Promise<RunningTarget[]> {
  const builds = registry(options.db, options.schemas);
  const running: RunningTarget[] = [];
  for (const target of options.targets) {
    const row = await builds
      .selectFrom("projection_builds")
      .select(["position", "status"])
      .where("build_schema", "=", target.buildSchema)
      .executeTakeFirst();
    if (row === undefined) throw new Error(`projection build ${target.buildSchema} is not registered`);
    if (row.status !== options.expectedStatus) {
      outcomes.set(target.buildSchema, { outcome: "retired", position: row.position as Position });
    } else {
      running.push({ ...target, position: row.position as Position, applied: 0 });
    }
  }
  return running;
}

/**
 * Applies one batch to every running build, side by side; a build whose run ends here gets its
 * outcome and leaves `running`. True when a swap retired one, which ends the whole run.
 */
async function applyToEveryTarget(
  options: RunProjectionsOptions,
  running: RunningTarget[],
  outcomes: Map<string, TargetOutcome>,
  batch: readonly EventWithoutMetadata[],
): Promise<boolean> {
  const ended = await applyTogether(options, running, batch);
  let retired = false;
  for (const [index, end] of ended.entries()) {
    const target = running[index];
    if (end === undefined || target === undefined) continue;
    outcomes.set(target.buildSchema, end);
    if (end.outcome === "retired") retired = true;
  }
  running.splice(0, running.length, ...running.filter((target) => !outcomes.has(target.buildSchema)));
  return retired;
}

/**
 * The batch applied to every build that has not seen it, in one statement: each build's rows are
 * read and folded side by side, then one statement advances every checkpoint that is as expected
 * and writes the rows of those builds only: one round trip and one commit for all of them (with a
 * statement per build, most carried only a checkpoint in a live system). Anything unusual (a fold
 * or the statement failing, a build whose checkpoint or status is not as expected, or whose row a
 * swap holds) is left to `applyToTarget`, one build at a time, which finds the event at fault or
 * the swap. A large batch (a rebuild, a runner catching up) is written a statement per build
 * instead, side by side on several connections: there the writing is the work, and one backend
 * would do it alone. An outcome for each running build, in order.
 */
async function applyTogether(
  options: RunProjectionsOptions,
  running: readonly RunningTarget[],
  batch: readonly EventWithoutMetadata[],
): Promise<(TargetOutcome | undefined)[]> {
  const last = batch.at(-1);
  const behind = running.filter((target) => last !== undefined && last.position > target.position);
  if (last === undefined || behind.length < 2 || batch.length > TOGETHER_UP_TO) {
    return Promise.all(running.map((target) => applyToTarget(options, target, batch)));
  }
  const folds = await Promise.allSettled(behind.map((target) => foldFor(options, target, batch)));
  const together = behind.flatMap((target, index) => {
    const fold = folds[index];
    return fold?.status === "fulfilled" ? [{ target, ...fold.value }] : [];
  });
  const advanced =
    together.length === 0 ? new Set<string>() : await writeTogether(options, together, last.position);
  for (const { target, events } of together) {
    if (!advanced.has(target.buildSchema)) continue;
    target.position = last.position;
    target.applied += events.length;
  }
  return Promise.all(
    running.map((target) =>
      together.some((done) => done.target === target && advanced.has(target.buildSchema))
        ? Promise.resolve(undefined)
        : applyToTarget(options, target, batch),
    ),
  );
}

/**
 * One statement: the checkpoints of `folded` builds moved to `to` where as expected, and those
 * builds' writes. The builds it moved; none when it failed (then it wrote nothing, and each build
 * on its own finds why: the event at fault, a swap, the connection).
 */
async function writeTogether(
  options: RunProjectionsOptions,
  folded: readonly { readonly target: RunningTarget; readonly writes: readonly RowWrite[] }[],
  to: Position,
): Promise<ReadonlySet<string>> {
  const statement = buildsWriteStatement(
    advanceCheckpoints(
      options,
      folded.map(({ target }) => target),
      to,
    ),
    folded.map(({ target, writes }) => ({ schema: target.buildSchema, writes })),
  );
  try {
    const { rows } = await statement.execute(options.db);
    return new Set((rows as { build_schema: string }[]).map((row) => row.build_schema));
  } catch {
    return new Set();
  }
}

/** The batch's events new to `target` and of its types, and the writes they fold into. */
async function foldFor(
  options: RunProjectionsOptions,
  target: RunningTarget,
  batch: readonly EventWithoutMetadata[],
): Promise<{ readonly events: readonly EventWithoutMetadata[]; readonly writes: readonly RowWrite[] }> {
  const events = newEventsOf(target, batch);
  const writes =
    events.length === 0 ? [] : await target.projection.foldBatch(options.db, events, target.buildSchema);
  return { events, writes };
}

/** The events of `batch` after `target`'s checkpoint, of its projection's types. */
function newEventsOf(target: RunningTarget, batch: readonly EventWithoutMetadata[]): EventWithoutMetadata[] {
  return batch.filter(
    (event) => event.position > target.position && target.projection.eventTypes.has(event.type),
  );
}

/** Tells `onProgress` where each running build stands, after a batch or on catching up. */
function reportProgress(
  options: RunProjectionsOptions,
  running: readonly RunningTarget[],
  reading: { readonly caughtUp: boolean; readonly read: number; readonly lastRecordedAt: Date | undefined },
): void {
  const now = options.now ?? Date.now;
  const { caughtUp, read, lastRecordedAt } = reading;
  for (const target of running) {
    options.onProgress?.({
      projection: target.projection.name,
      version: target.projection.version,
      buildSchema: target.buildSchema,
      position: target.position,
      caughtUp,
      applied: target.applied,
      read,
      lagSeconds:
        caughtUp || lastRecordedAt === undefined ? 0 : Math.max(0, (now() - lastRecordedAt.getTime()) / 1000),
    });
  }
}

/** Applies the batch's new events to one build; an outcome when the build's run ends here. */
async function applyToTarget(
  options: RunProjectionsOptions,
  target: RunningTarget,
  batch: readonly EventWithoutMetadata[],
): Promise<TargetOutcome | undefined> {
  const last = batch.at(-1);
  if (last === undefined || last.position <= target.position) return undefined;
  const events = newEventsOf(target, batch);
  try {
    const status = await applyAndAdvance(options, target, events, last.position);
    if (status !== options.expectedStatus) return { outcome: "retired", position: target.position };
    target.position = last.position;
    target.applied += events.length;
    return undefined;
  } catch (error) {
    if (error instanceof LeaseLostError) return { outcome: "failed", error };
    // Find the event at fault: apply one at a time, keeping the progress before it.
    for (const event of events) {
      try {
        const status = await applyAndAdvance(options, target, [event], event.position);
        if (status !== options.expectedStatus) return { outcome: "retired", position: target.position };
        target.position = event.position;
        target.applied += 1;
      } catch (cause) {
        const failure =
          cause instanceof LeaseLostError
            ? cause
            : new ProjectionFailedError(target.projection.name, event.id, event.type, event.position, cause);
        await recordBuildFailure(options.db, options.schemas, target.buildSchema, failure.message).catch(
          () => undefined,
        );
        return { outcome: "failed", error: failure };
      }
    }
    // Each event applied alone: the batch failed for a reason of its own (e.g. the connection).
    const failure = error instanceof Error ? error : new Error(String(error));
    await recordBuildFailure(options.db, options.schemas, target.buildSchema, failure.message).catch(
      () => undefined,
    );
    return { outcome: "failed", error: failure };
  }
}

/**
 * Two round trips: the projection reads the rows the events touch and folds the events into them;
 * then one statement advances the checkpoint, if the build's status and previous checkpoint are
 * as expected, and writes the rows only if it did. Being one statement, the checkpoint and the
 * effects commit together or not at all. The read needs no transaction: only this runner (holding
 * the lease) writes the build, and anyone else who did would have moved the checkpoint, which the
 * guard then refuses. A batch with nothing for this projection is just the guard. Returns the
 * status found (only `expectedStatus` applies).
 */
async function applyAndAdvance(
  options: RunProjectionsOptions,
  target: RunningTarget,
  events: readonly EventWithoutMetadata[],
  to: Position,
): Promise<BuildStatus> {
  let applied: boolean;
  try {
    const writes =
      events.length === 0 ? [] : await target.projection.foldBatch(options.db, events, target.buildSchema);
    const statement = writeStatement(target.buildSchema, writes, advanceCheckpoint(options, target, to));
    applied = statement === undefined ? false : (await statement.execute(options.db)).rows.length === 1;
  } catch (error) {
    // A swap may have retired the build and dropped its schema under the read or the write.
    const found = await findBuild(options, target);
    if (found === undefined || found.status !== options.expectedStatus) return found?.status ?? "retired";
    throw error;
  }
  if (applied) return options.expectedStatus;
  // Not as expected: a swap retired the build (a swap holding the row makes us wait, then
  // find it retired), or another runner moved its checkpoint.
  const found = await findBuild(options, target);
  if (found === undefined || found.status !== options.expectedStatus) return found?.status ?? "retired";
  throw leaseLost(target, found.position);
}

function findBuild(
  options: RunProjectionsOptions,
  target: RunningTarget,
): Promise<{ status: BuildStatus; position: string } | undefined> {
  return registry(options.db, options.schemas)
    .selectFrom("projection_builds")
    .select(["status", "position"])
    .where("build_schema", "=", target.buildSchema)
    .executeTakeFirst();
}

/** Moves the checkpoint from where this runner left it to `to`, if the build is still as expected. */
function advanceCheckpoint(options: RunProjectionsOptions, target: RunningTarget, to: Position) {
  return sql<{ status: BuildStatus }>`
    update ${buildsTable(options)} set position = ${to}, updated_at = now()
    from (select ${ASYNC_COMMIT}) as settings
    where build_schema = ${target.buildSchema} and position = ${target.position} and status = ${options.expectedStatus}
    returning status
  `;
}

/**
 * Moves the checkpoint of each of `targets` from where this runner left it to `to`, for those
 * still as expected; returns `build_schema` of each moved. A build whose registry row is locked (a
 * swap holds it while it verifies) is skipped, not waited for, and left to the per-build path:
 * waiting here while holding the others' rows would make side-by-side swaps wait for each other.
 */
function advanceCheckpoints(options: RunProjectionsOptions, targets: readonly RunningTarget[], to: Position) {
  return sql<{ build_schema: string }>`
    update ${buildsTable(options)} as builds set position = ${to}, updated_at = now()
    from (select ${ASYNC_COMMIT}) as settings,
      (select free.build_schema from ${buildsTable(options)} as free
        join unnest(${targets.map((target) => target.buildSchema)}::text[], ${targets.map((target) => target.position)}::text[])
          as expected (build_schema, position)
          on free.build_schema = expected.build_schema and free.position = expected.position
        where free.status = ${options.expectedStatus}
        order by free.build_schema
        for update of free skip locked) as free
    where builds.build_schema = free.build_schema
    returning builds.build_schema
  `;
}

// A read model is derived data: a crash may lose the last batches' commits, but their checkpoint
// goes with them and they are applied again. So its commits need not wait for the disk.
const ASYNC_COMMIT = sql`set_config('synchronous_commit', 'off', true)`;

function buildsTable(options: RunProjectionsOptions) {
  return sql.table(`${options.schemas.runtime}.projection_builds`);
}

function leaseLost(target: RunningTarget, found: string): LeaseLostError {
  return new LeaseLostError(
    `projection ${target.projection.name}: build ${target.buildSchema} moved to ${found} under this runner (at ${target.position}); stopping`,
  );
}

/**
 * The builds of projection `name` a runner is filling right now: status `building`, their lease
 * held (by a rebuild of the CLI, the query API or the projector, in any process).
 */
export async function buildsBeingFilled(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  name: string,
): Promise<string[]> {
  const { rows } = await sql<{ build_schema: string }>`
    select build_schema from ${sql.table(`${schemas.runtime}.projection_builds`)}
    where name = ${name} and status = 'building' and exists (
      select from pg_locks
      where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())
        and classid = ${LEASE_CLASS}::bigint::oid and objid = hashtext(build_schema)::oid and objsubid = 2
    )`.execute(db);
  return rows.map((row) => row.build_schema);
}

/** The checkpoint moved under us: another runner holds this build. */
export class LeaseLostError extends Error {
  readonly code = "lease_lost";
}
