import { randomUUID } from "node:crypto";
import { sql, type Generated, type Kysely, type Selectable, type Updateable } from "kysely";
import type { Logger } from "pino";
import type { Templates } from "../../domain/notification/Templates.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import type { RulesetDocument } from "../../domain/ruleset/RulesetDocument.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { BacktestThreads } from "./backtestThreads.ts";
import { runBacktest, type BacktestReport } from "./runBacktest.ts";

export type BacktestStatus = "running" | "done" | "failed";

/** A backtest started through the API, as it stands; its report once done. */
export interface BacktestJob {
  readonly backtestId: string;
  readonly status: BacktestStatus;
  readonly requestedBy: string;
  readonly from: string;
  readonly to: string;
  readonly comment: string;
  readonly candidate: RulesetDocument;
  /** Balances replayed so far. */
  readonly balancesReplayed: number;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly error: string | null;
  readonly report: BacktestReport | null;
}

interface BacktestsTable {
  backtest_id: string;
  status: BacktestStatus;
  requested_by: string;
  from_at: Date;
  to_at: Date;
  comment: string;
  candidate: RulesetDocument;
  balances_replayed: Generated<string>;
  started_at: Generated<Date>;
  heartbeat_at: Generated<Date>;
  finished_at: Date | null;
  error: string | null;
  report: BacktestReport | null;
}

export interface BacktestJobsOptions {
  readonly db: Kysely<unknown>;
  /** Where the jobs table lives (the read models' runtime schema). */
  readonly schema: string;
  readonly store: EventStore;
  /** Every rule ever published (what actually happened is explained with them). */
  readonly actualRules: () => readonly Rule[];
  readonly templates: Templates;
  readonly bounds: ReferenceTimeBounds;
  readonly logger: Logger;
  /** Progress is recorded at most this often (default 1 s). */
  readonly progressEveryMs?: number;
  /** A running backtest not heard from for this long is abandoned (default 30 s). */
  readonly abandonedAfterMs?: number;
  /** Threads a backtest replays on (`runBacktest`); this thread without. */
  readonly threads?: BacktestThreads;
}

const ABANDONED = "abandoned: the process running it stopped before it finished";

/**
 * Backtests run in the background of the query API, each recorded in `<runtime>.backtests` with
 * its progress and, once done, its report: any replica answers how one stands, and the result is
 * kept. A backtest reads the log only: this table is its one write.
 */
export class BacktestJobs {
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(private readonly options: BacktestJobsOptions) {}

  async migrate(): Promise<void> {
    await this.options.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`${this.options.schema}:backtests`}))`.execute(trx);
      await trx.schema
        .withSchema(this.options.schema)
        .createTable("backtests")
        .ifNotExists()
        .addColumn("backtest_id", "uuid", (col) => col.primaryKey())
        .addColumn("status", "text", (col) =>
          col.notNull().check(sql`status in ('running', 'done', 'failed')`),
        )
        .addColumn("requested_by", "text", (col) => col.notNull())
        .addColumn("from_at", "timestamptz", (col) => col.notNull())
        .addColumn("to_at", "timestamptz", (col) => col.notNull())
        .addColumn("comment", "text", (col) => col.notNull())
        .addColumn("candidate", "jsonb", (col) => col.notNull())
        .addColumn("balances_replayed", "bigint", (col) => col.notNull().defaultTo(0))
        .addColumn("started_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
        .addColumn("heartbeat_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
        .addColumn("finished_at", "timestamptz")
        .addColumn("error", "text")
        .addColumn("report", "jsonb")
        .execute();
    });
  }

  /**
   * Records a backtest of `candidate` and starts it in the background; or, while this process
   * already runs one (each takes a core for as long as it reads the log), names that one.
   */
  async start(request: {
    readonly candidate: RulesetDocument;
    readonly rules: readonly Rule[];
    readonly fromMs: number;
    readonly toMs: number;
    readonly requestedBy: string;
    readonly comment: string;
  }): Promise<BacktestJob | { readonly running: string }> {
    const [running] = this.#running.keys();
    if (running !== undefined) return { running };
    const row = await this.#table()
      .insertInto("backtests")
      .values({
        backtest_id: randomUUID(),
        status: "running",
        requested_by: request.requestedBy,
        from_at: new Date(request.fromMs),
        to_at: new Date(request.toMs),
        comment: request.comment,
        candidate: JSON.stringify(request.candidate) as unknown as RulesetDocument,
        finished_at: null,
        error: null,
        report: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const controller = new AbortController();
    const done = this.#run(row.backtest_id, request, controller.signal).finally(() =>
      this.#running.delete(row.backtest_id),
    );
    this.#running.set(row.backtest_id, { controller, done });
    return jobOf(row);
  }

  /** The backtest `backtestId`, or undefined for an unknown one. */
  async find(backtestId: string): Promise<BacktestJob | undefined> {
    const row = await this.#table()
      .selectFrom("backtests")
      .selectAll()
      .select(
        sql<boolean>`heartbeat_at < now() - make_interval(secs => ${this.#abandonedAfterSeconds})`.as(
          "stale",
        ),
      )
      .where("backtest_id", "=", backtestId)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return jobOf(
      row.status === "running" && row.stale ? { ...row, status: "failed", error: ABANDONED } : row,
    );
  }

  /** The latest backtests, newest first, without their reports. */
  async list(limit: number): Promise<BacktestJob[]> {
    const rows = await this.#table()
      .selectFrom("backtests")
      .selectAll()
      .orderBy("started_at", "desc")
      .limit(limit)
      .execute();
    return rows.map((row) => ({ ...jobOf(row), report: null }));
  }

  /** Stops the backtests this process runs; they are recorded as failed. */
  async stop(): Promise<void> {
    for (const { controller } of this.#running.values()) controller.abort();
    await Promise.all([...this.#running.values()].map(({ done }) => done));
  }

  get #abandonedAfterSeconds(): number {
    return (this.options.abandonedAfterMs ?? 30_000) / 1000;
  }

  #table(): Kysely<{ backtests: BacktestsTable }> {
    return this.options.db.withSchema(this.options.schema) as unknown as Kysely<{
      backtests: BacktestsTable;
    }>;
  }

  async #run(
    backtestId: string,
    request: { readonly rules: readonly Rule[]; readonly fromMs: number; readonly toMs: number },
    signal: AbortSignal,
  ): Promise<void> {
    let lastRecorded = 0;
    let recording = Promise.resolve();
    try {
      const report = await runBacktest(this.options.store, {
        rules: request.rules,
        actualRules: this.options.actualRules(),
        templates: this.options.templates,
        fromMs: request.fromMs,
        toMs: request.toMs,
        bounds: this.options.bounds,
        signal,
        ...(this.options.threads === undefined ? {} : { threads: this.options.threads }),
        onProgress: (balances) => {
          const now = Date.now();
          if (now - lastRecorded < (this.options.progressEveryMs ?? 1000)) return;
          lastRecorded = now;
          recording = recording.then(() => this.#record(backtestId, { balances_replayed: String(balances) }));
        },
      });
      await recording;
      await this.#record(backtestId, {
        status: "done",
        balances_replayed: String(report.balancesReplayed),
        report: JSON.stringify(report) as unknown as BacktestReport,
        finished_at: sql<Date>`now()` as unknown as Date,
      });
    } catch (error) {
      await recording.catch(() => undefined);
      const message = signal.aborted ? "stopped: the process running it shut down" : (error as Error).message;
      this.options.logger.error({ err: error, backtestId }, "backtest failed");
      await this.#record(backtestId, {
        status: "failed",
        error: message,
        finished_at: sql<Date>`now()` as unknown as Date,
      }).catch((recordError: unknown) =>
        this.options.logger.error({ err: recordError, backtestId }, "backtest's failure not recorded"),
      );
    }
  }

  async #record(backtestId: string, values: Updateable<BacktestsTable>): Promise<void> {
    await this.#table()
      .updateTable("backtests")
      .set({ ...values, heartbeat_at: sql<Date>`now()` as unknown as Date })
      .where("backtest_id", "=", backtestId)
      .execute();
  }
}

function jobOf(row: Selectable<BacktestsTable>): BacktestJob {
  return {
    backtestId: row.backtest_id,
    status: row.status,
    requestedBy: row.requested_by,
    from: row.from_at.toISOString(),
    to: row.to_at.toISOString(),
    comment: row.comment,
    candidate: row.candidate,
    balancesReplayed: Number(row.balances_replayed),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    report: row.report,
  };
}
