import { randomUUID } from "node:crypto";
import { sql, type Generated, type Kysely, type Transaction } from "kysely";
import type pg from "pg";
import type { Logger } from "pino";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { AnyProjection } from "./Projection.ts";
import type { ProjectionSchemas } from "./ProjectionBuilds.ts";
import { rebuildProjections } from "./rebuildProjections.ts";
import { RebuildProgress } from "./RebuildProgress.ts";
import { buildsBeingFilled } from "./runProjections.ts";

export type RebuildJobStatus = "running" | "done" | "failed";

/** A rebuild started through `RebuildJobs`, as it stands. */
export interface RebuildJob {
  readonly rebuildId: string;
  readonly name: string;
  readonly status: RebuildJobStatus;
  /** Events read from the log so far. */
  readonly processed: number;
  /** Events in the log when it started; null where the store cannot count them. */
  readonly total: number | null;
  readonly percent: number | null;
  /** The rebuild's last step (building, catching up and verifying, live, dropped). */
  readonly step: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly error: string | null;
}

/** Why a rebuild was not started: one of this projection is under way (with its id when it is a job). */
export interface RebuildAlreadyRunning {
  readonly running: string;
  readonly rebuildId: string | null;
}

interface RebuildJobsTable {
  rebuild_id: string;
  name: string;
  status: RebuildJobStatus;
  processed: Generated<string>;
  total: string | null;
  step: string | null;
  started_at: Generated<Date>;
  heartbeat_at: Generated<Date>;
  finished_at: Date | null;
  error: string | null;
}

interface JobTables {
  rebuild_jobs: RebuildJobsTable;
}

export interface RebuildJobsOptions {
  /** For the build's lease (one connection while it fills). */
  readonly pool: pg.Pool;
  readonly db: Kysely<unknown>;
  readonly store: EventStore;
  readonly schemas: ProjectionSchemas;
  readonly logger: Logger;
  /** Events per batch (default 10,000: about 60 MB, where the CLI's 100,000 take about 600 MB). */
  readonly batchSize?: number;
  /** How often a running rebuild records its progress (default 1 s). */
  readonly progressEveryMs?: number;
  /** A running rebuild whose progress has not been recorded for this long is abandoned (default 30 s). */
  readonly abandonedAfterMs?: number;
}

const ABANDONED = "abandoned: the process running it stopped before it finished";

/**
 * Blue/green rebuilds of one read model each (the same as `npm run projections -- rebuild <name>`),
 * run in the background of this process, their progress recorded in PostgreSQL (table
 * `<runtime>.rebuild_jobs`) so that any replica can answer how one stands. At most one per read
 * model at a time, across processes: a rebuild job of it still recording progress, or a build of
 * it being filled (by the CLI or the projector), refuses another.
 */
export class RebuildJobs {
  readonly #options: RebuildJobsOptions;
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(options: RebuildJobsOptions) {
    this.#options = options;
  }

  /** Creates the jobs table if missing (after `createRegistry`; idempotent, safe to race). */
  async migrate(): Promise<void> {
    const { db, schemas } = this.#options;
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`${schemas.runtime}:rebuild_jobs`}))`.execute(trx);
      await trx.schema
        .withSchema(schemas.runtime)
        .createTable("rebuild_jobs")
        .ifNotExists()
        .addColumn("rebuild_id", "uuid", (col) => col.primaryKey())
        .addColumn("name", "text", (col) => col.notNull())
        .addColumn("status", "text", (col) =>
          col.notNull().check(sql`status in ('running', 'done', 'failed')`),
        )
        .addColumn("processed", "bigint", (col) => col.notNull().defaultTo(0))
        .addColumn("total", "bigint")
        .addColumn("step", "text")
        .addColumn("started_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
        .addColumn("heartbeat_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
        .addColumn("finished_at", "timestamptz")
        .addColumn("error", "text")
        .execute();
    });
  }

  /** Starts rebuilding `projection` in the background, unless a rebuild of it is under way. */
  async start(projection: AnyProjection): Promise<{ readonly started: RebuildJob } | RebuildAlreadyRunning> {
    const progress = await RebuildProgress.counting(this.#options.store);
    const claimed = await this.#options.db
      .transaction()
      .execute((trx) => this.#claim(trx, projection.name, progress.total));
    if ("started" in claimed) this.#launch(claimed.started.rebuildId, projection, progress);
    return claimed;
  }

  /** The rebuild job `rebuildId`, or undefined for an unknown one. */
  async find(rebuildId: string): Promise<RebuildJob | undefined> {
    const row = await this.#jobs(this.#options.db)
      .selectFrom("rebuild_jobs")
      .selectAll()
      .select(
        sql<boolean>`heartbeat_at < now() - make_interval(secs => ${this.#abandonedAfterSeconds})`.as(
          "stale",
        ),
      )
      .where("rebuild_id", "=", rebuildId)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return jobOf(
      row.status === "running" && row.stale ? { ...row, status: "failed", error: ABANDONED } : row,
    );
  }

  /** Stops the rebuilds this process runs (their live builds untouched) and waits for them to record it. */
  async stop(): Promise<void> {
    for (const { controller } of this.#running.values()) controller.abort();
    await Promise.all([...this.#running.values()].map(({ done }) => done));
  }

  get #abandonedAfterSeconds(): number {
    return (this.#options.abandonedAfterMs ?? 30_000) / 1000;
  }

  #jobs(db: Kysely<unknown> | Transaction<unknown>): Kysely<JobTables> {
    return db.withSchema(this.#options.schemas.runtime) as unknown as Kysely<JobTables>;
  }

  /** Under the read model's lock: refuse if one runs, else record a new job. */
  async #claim(
    trx: Transaction<unknown>,
    name: string,
    total: number | undefined,
  ): Promise<{ readonly started: RebuildJob } | RebuildAlreadyRunning> {
    const { schemas } = this.#options;
    await sql`select pg_advisory_xact_lock(hashtext(${`${schemas.runtime}:rebuild_jobs:${name}`}))`.execute(
      trx,
    );
    const jobs = this.#jobs(trx);
    await jobs
      .updateTable("rebuild_jobs")
      .set({ status: "failed", finished_at: sql<Date>`now()`, error: ABANDONED })
      .where("name", "=", name)
      .where("status", "=", "running")
      .where(sql<boolean>`heartbeat_at < now() - make_interval(secs => ${this.#abandonedAfterSeconds})`)
      .execute();
    const running = await jobs
      .selectFrom("rebuild_jobs")
      .select("rebuild_id")
      .where("name", "=", name)
      .where("status", "=", "running")
      .executeTakeFirst();
    if (running !== undefined) {
      return {
        running: `rebuild ${running.rebuild_id} of ${name} is running`,
        rebuildId: running.rebuild_id,
      };
    }
    const [filling] = await buildsBeingFilled(trx, schemas, name);
    if (filling !== undefined) {
      return { running: `build ${filling} of ${name} is being filled by another rebuild`, rebuildId: null };
    }
    const row = await jobs
      .insertInto("rebuild_jobs")
      .values({
        rebuild_id: randomUUID(),
        name,
        status: "running",
        total: total === undefined ? null : String(total),
        step: null,
        finished_at: null,
        error: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { started: jobOf(row) };
  }

  #launch(rebuildId: string, projection: AnyProjection, progress: RebuildProgress): void {
    const controller = new AbortController();
    const done = this.#run(rebuildId, projection, progress, controller.signal).finally(() =>
      this.#running.delete(rebuildId),
    );
    this.#running.set(rebuildId, { controller, done });
  }

  /** Runs the rebuild, recording its progress every `progressEveryMs` and how it ended; never throws. */
  async #run(
    rebuildId: string,
    projection: AnyProjection,
    progress: RebuildProgress,
    signal: AbortSignal,
  ): Promise<void> {
    const { logger } = this.#options;
    let step: string | null = null;
    const record = () =>
      this.#recordProgress(rebuildId, progress, step).catch((error: unknown) =>
        logger.warn({ err: error, rebuildId }, "could not record a rebuild's progress"),
      );
    const timer = setInterval(() => void record(), this.#options.progressEveryMs ?? 1000);
    let ending: { status: "done" } | { status: "failed"; error: string };
    try {
      const { pool, db, store, schemas } = this.#options;
      const [result] = await rebuildProjections({
        pool,
        db,
        store,
        schemas,
        projections: [projection],
        signal,
        batchSize: this.#options.batchSize ?? 10_000,
        onProgress: (update) => progress.update(update),
        onStep: (_, said) => (step = said),
      });
      ending =
        result?.outcome === "swapped"
          ? { status: "done" }
          : {
              status: "failed",
              error:
                result?.outcome === "failed"
                  ? result.error
                  : "stopped before the swap: the process is shutting down (the live build is untouched)",
            };
    } catch (error) {
      ending = { status: "failed", error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearInterval(timer);
    }
    logger[ending.status === "done" ? "info" : "error"](
      { rebuildId, projection: projection.name, ...ending },
      `rebuild of ${projection.name} ${ending.status}`,
    );
    await this.#recordEnd(rebuildId, progress, step, ending).catch((error: unknown) =>
      logger.error({ err: error, rebuildId }, "could not record how a rebuild ended"),
    );
  }

  async #recordProgress(rebuildId: string, progress: RebuildProgress, step: string | null): Promise<void> {
    await this.#jobs(this.#options.db)
      .updateTable("rebuild_jobs")
      .set({ processed: String(progress.read), step, heartbeat_at: sql<Date>`now()` })
      .where("rebuild_id", "=", rebuildId)
      .where("status", "=", "running")
      .execute();
  }

  async #recordEnd(
    rebuildId: string,
    progress: RebuildProgress,
    step: string | null,
    ending: { status: "done" } | { status: "failed"; error: string },
  ): Promise<void> {
    await this.#jobs(this.#options.db)
      .updateTable("rebuild_jobs")
      .set({
        status: ending.status,
        processed: String(progress.read),
        step,
        heartbeat_at: sql<Date>`now()`,
        finished_at: sql<Date>`now()`,
        error: ending.status === "failed" ? ending.error : null,
      })
      .where("rebuild_id", "=", rebuildId)
      .execute();
  }
}

function jobOf(row: {
  rebuild_id: string;
  name: string;
  status: RebuildJobStatus;
  processed: string;
  total: string | null;
  step: string | null;
  started_at: Date;
  finished_at: Date | null;
  error: string | null;
}): RebuildJob {
  const processed = Number(row.processed);
  const total = row.total === null ? null : Number(row.total);
  const percent =
    row.status === "done"
      ? 100
      : total === null || total === 0
        ? null
        : Math.min(100, Math.floor((processed / total) * 1000) / 10);
  return {
    rebuildId: row.rebuild_id,
    name: row.name,
    status: row.status,
    processed,
    total,
    percent,
    step: row.step,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  };
}
