import type pg from "pg";
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  EventToAppend,
  EventWithoutMetadata,
  ExpectedRevision,
  JsonObject,
  LogSnapshotOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SnapshotEvent,
  SubscribeOptions,
  Subscription,
  SubscriptionMessage,
} from "../EventStore.ts";
import { DEFAULT_SNAPSHOT_BATCH_SIZE, checkSnapshotPart, type SharedLogSnapshot } from "../EventStore.ts";
import {
  DuplicateEventIdError,
  EventStoreUnavailableError,
  LogImportUnderWayError,
  WrongExpectedRevisionError,
} from "../EventStoreError.ts";
import { START, comparePositions, parsePosition, positionParts, type Position } from "../Position.ts";
import {
  DEFAULT_MAX_EVENT_BYTES,
  isPossibleStreamId,
  validateAppend,
  type SerializedEvent,
} from "../validateAppend.ts";
import { to as copyTo } from "pg-copy-streams";
import { MicroBatcher } from "../../postgres/MicroBatcher.ts";
import { copyBinaryRows } from "./copyBinaryRows.ts";
import { IMPORT_UNDER_WAY, eventStoreMigrations, notificationChannel } from "./eventStoreMigrations.ts";
import { LogWakeups } from "./LogWakeups.ts";
import { migrateSchema } from "../../postgres/migrateSchema.ts";

export interface PostgresEventStoreOptions {
  /** Schema holding the store's tables (default `tidemark`). */
  readonly schema?: string;
  readonly maxEventBytes?: number;
  /** Batches on the wire at once (default 2: best measured on 2 cores); later appends wait and leave together. */
  readonly maxInFlightBatches?: number;
  /** Most appends in one batch (default 256). */
  readonly maxBatchAppends?: number;
  /**
   * Waiting appends of at least twice this many events, with several batch slots free, are
   * shared among the slots, so that PostgreSQL writes them on several cores at once (default 200).
   */
  readonly minSplitEvents?: number;
  /**
   * Rows per read round trip of the log and of a backward stream read (default 1000); a forward
   * stream read's pages: `maxBatchReadRows`.
   */
  readonly readPageSize?: number;
  /**
   * Batched statements of forward stream reads on the wire at once (default 2); forward reads
   * that come while every slot is busy wait and leave together, as one statement
   * (`readStreamPages`). Backward reads and `readStreams` go straight to the pool.
   */
  readonly maxInFlightReads?: number;
  /** Most streams read in one statement (default 64). */
  readonly maxBatchReads?: number;
  /**
   * Most rows one batched read may return (default 16,000): a forward read's pages are of at most
   * this divided by `maxBatchReads` rows (250), whatever `readPageSize`, so that 64 long streams
   * read at once hold 16,000 rows, not 64,000.
   */
  readonly maxBatchReadRows?: number;
  /** Fallback poll for subscriptions when no notification arrives (default 1000 ms). */
  readonly pollIntervalMs?: number;
}

/** The defaults of the tunable options (measured on 2 cores; see bench/README.md). */
export const POSTGRES_EVENT_STORE_DEFAULTS = {
  maxInFlightBatches: 2,
  maxBatchAppends: 256,
  minSplitEvents: 200,
  readPageSize: 1000,
  maxInFlightReads: 2,
  maxBatchReads: 64,
  maxBatchReadRows: 16_000,
  pollIntervalMs: 1000,
} as const;

type LogAnomalyKind = "revision_order" | "duplicate_event_id";

/** See `PostgresEventStore.logAnomalies`. */
export interface LogAnomalies {
  /** Events recorded before an earlier revision of their own stream. */
  readonly revisionOrder: number;
  /** Events whose id another event also has. */
  readonly duplicateEventIds: number;
  /** A few of each, e.g. "revision_order: account-42 revision 13". */
  readonly examples: readonly string[];
}

/** One line for an operator about a log's anomalies, or `undefined` when it has none. */
export function describeLogAnomalies(anomalies: LogAnomalies): string | undefined {
  if (anomalies.revisionOrder === 0 && anomalies.duplicateEventIds === 0) return undefined;
  return (
    `the event log was written by an earlier version and holds ${anomalies.revisionOrder} events before an ` +
    `earlier revision of their stream and ${anomalies.duplicateEventIds} events with a repeated id ` +
    `(${anomalies.examples.join("; ")}). Nothing new is written so, and reading is unaffected; an export of ` +
    "it imports and restores only with --allow-inversions (README: Event log anomalies)"
  );
}

export interface PendingAppend {
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly events: readonly SerializedEvent[];
}

/** One page of a stream read forwards: from a revision, at most `limit` events. */
interface PageRequest {
  readonly streamId: string;
  readonly from: number;
  readonly limit: number;
}

interface EventRowWithoutMetadata {
  position: string;
  stream_id: string;
  stream_revision: string;
  event_id: string;
  event_type: string;
  data: JsonObject;
  /** Milliseconds since the epoch (float8): far cheaper to decode than a timestamptz's text. */
  recorded_at_ms: number;
}

interface EventRow extends EventRowWithoutMetadata {
  metadata: EventMetadata;
}

/** A page a subscription read, and whether events after it are held back by an open transaction. */
interface FollowedPage<Event> {
  readonly events: readonly Event[];
  readonly heldBack: boolean;
}

interface SubscriptionState {
  position: Position;
  readonly batchSize: number;
  closed: boolean;
  wakeOnClose: () => void;
}

interface AppendRow {
  append_index: number;
  appended: boolean;
  revision: string;
  transaction_order: string | null;
  global_position: string | null;
  duplicate_event_id: string | null;
  duplicate_stream_id: string | null;
  duplicate_revision: string | null;
}

const UNIQUE_VIOLATION = "23505";
const EXPECTED_CODES = { no_stream: -1, any: -2, stream_exists: -3 } as const;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;
// Shortest and longest re-read delay while committed events wait behind an older open transaction.
const HELD_BACK_MIN_MS = 2;
const HELD_BACK_MAX_MS = 20;

/**
 * The event store on PostgreSQL (the embedded default and a supported single-database
 * deployment). Appends are micro-batched into one `append_batch` call per round trip; the global
 * order is gap-safe (see eventStoreMigrations.ts); LISTEN/NOTIFY wakes subscribers.
 */
export class PostgresEventStore implements EventStore {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #maxEventBytes: number;
  readonly #pageSize: number;
  /** Rows in a forward read's page (`maxBatchReadRows`). */
  readonly #forwardPageSize: number;
  readonly #pollIntervalMs: number;
  readonly #batcher: MicroBatcher<PendingAppend, AppendResult>;
  /** Forward pages of streams, read together when they wait (`#readPages`). */
  readonly #pages: MicroBatcher<PageRequest, readonly EventRow[]>;
  readonly #wakeups: LogWakeups;
  readonly #subscriptions = new Set<Subscription<EventWithoutMetadata>>();
  readonly #sql: ReturnType<typeof statements>;
  /** The name each fixed statement is prepared under, by its text (`statementNames`). */
  readonly #statementNames: ReadonlyMap<string, string>;

  constructor(pool: pg.Pool, options: PostgresEventStoreOptions = {}) {
    this.#pool = pool;
    this.#schema = checkedSchema(options.schema ?? "tidemark");
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.#pageSize = options.readPageSize ?? POSTGRES_EVENT_STORE_DEFAULTS.readPageSize;
    this.#pollIntervalMs = options.pollIntervalMs ?? POSTGRES_EVENT_STORE_DEFAULTS.pollIntervalMs;
    this.#sql = statements(this.#schema);
    this.#statementNames = statementNames(this.#schema, this.#sql);
    this.#batcher = new MicroBatcher(
      (appends) => this.#appendBatch(appends),
      options.maxInFlightBatches ?? POSTGRES_EVENT_STORE_DEFAULTS.maxInFlightBatches,
      options.maxBatchAppends ?? POSTGRES_EVENT_STORE_DEFAULTS.maxBatchAppends,
      {
        splitting: {
          weightOf: (append) => append.events.length,
          keyOf: (append) => append.streamId,
          minWeightEach: options.minSplitEvents ?? POSTGRES_EVENT_STORE_DEFAULTS.minSplitEvents,
        },
      },
    );
    const maxBatchReads = options.maxBatchReads ?? POSTGRES_EVENT_STORE_DEFAULTS.maxBatchReads;
    this.#pages = new MicroBatcher(
      (requests) => this.#readPages(requests),
      options.maxInFlightReads ?? POSTGRES_EVENT_STORE_DEFAULTS.maxInFlightReads,
      maxBatchReads,
      { alone: (request) => this.#readPage(request) },
    );
    this.#forwardPageSize = Math.max(
      1,
      Math.min(
        this.#pageSize,
        Math.floor(
          (options.maxBatchReadRows ?? POSTGRES_EVENT_STORE_DEFAULTS.maxBatchReadRows) / maxBatchReads,
        ),
      ),
    );
    this.#wakeups = new LogWakeups(pool, notificationChannel(this.#schema));
  }

  /** Brings the schema up to date (kysely migrations); safe to run from several processes. */
  static async migrate(pool: pg.Pool, schema = "tidemark"): Promise<void> {
    await migrateSchema(pool, {
      schema,
      history: "event_store_migrations",
      migrations: eventStoreMigrations(checkedSchema(schema)),
    });
  }

  /**
   * What a log written by a version before migration 0004 may hold and the store now prevents:
   * events that come before an earlier revision of their stream in the global order, and event
   * ids that stand twice. Recorded when the migration ran (or an import kept inversions); empty
   * for any log written since. Cheap: it reads the record, not the log.
   */
  static async logAnomalies(pool: pg.Pool, schema = "tidemark"): Promise<LogAnomalies> {
    const { rows } = await pool.query<{ kind: LogAnomalyKind; events: string; examples: string[] }>(
      `select kind, count(*) as events,
              (array_agg(stream_id || ' revision ' || stream_revision order by global_position))[1:5] as examples
         from "${checkedSchema(schema)}".log_anomalies group by kind`,
    );
    const of = (kind: LogAnomalyKind) => rows.find((row) => row.kind === kind);
    return {
      revisionOrder: Number(of("revision_order")?.events ?? 0),
      duplicateEventIds: Number(of("duplicate_event_id")?.events ?? 0),
      examples: rows.flatMap((row) => row.examples.map((example) => `${row.kind}: ${example}`)),
    };
  }

  async append(
    streamId: string,
    expected: ExpectedRevision,
    events: readonly EventToAppend[],
  ): Promise<AppendResult> {
    const checked = validateAppend(streamId, expected, events, this.#maxEventBytes);
    return this.#batcher.submit(checked);
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const forwards = (options.direction ?? "forwards") === "forwards";
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    let next = options.fromRevision ?? (forwards ? 0 : Number.MAX_SAFE_INTEGER);
    // No append takes such an id: nothing to read (and nothing to fail the reads batched with it).
    if (!isPossibleStreamId(streamId)) return;
    while (remaining > 0 && next >= 0) {
      const limit = Math.min(forwards ? this.#forwardPageSize : this.#pageSize, remaining);
      const rows = forwards
        ? await this.#pages.submit({ streamId, from: next, limit })
        : (await this.#query<EventRow>(this.#sql.readStreamBackwards, [streamId, next, limit])).rows;
      for (const row of rows) yield toRecordedEvent(row);
      remaining -= rows.length;
      const last = rows.at(-1);
      if (rows.length < limit || last === undefined) return;
      next = Number(last.stream_revision) + (forwards ? 1 : -1);
    }
  }

  /**
   * Forward pages of streams, one per request, in one statement: the reads that waited for a
   * slot together (a pull reads its account's stream twice, an SMS a few streams; 64 gateway
   * refreshes under way read 64 streams). A lone read, or each read of a batch whose statement
   * failed, is the plain one-stream statement (`#readPage`, the batcher's `alone`).
   */
  async #readPages(requests: readonly PageRequest[]): Promise<readonly (readonly EventRow[])[]> {
    const { rows } = await this.#query<EventRow & { page: string }>(this.#sql.readStreamPages, [
      requests.map((request) => request.streamId),
      requests.map((request) => request.from),
      requests.map((request) => request.limit),
    ]);
    const pages = requests.map((): EventRow[] => []);
    for (const row of rows) pages[Number(row.page) - 1]?.push(row);
    return pages;
  }

  async #readPage(request: PageRequest): Promise<readonly EventRow[]> {
    const { rows } = await this.#query<EventRow>(this.#sql.readStreamForwards, [
      request.streamId,
      request.from,
      request.limit,
    ]);
    return rows;
  }

  async readStreams(
    streamIds: readonly string[],
  ): Promise<ReadonlyMap<string, readonly EventWithoutMetadata[]>> {
    const streams = new Map<string, EventWithoutMetadata[]>();
    if (streamIds.length === 0) return streams;
    const { rows } = await this.#query<EventRowWithoutMetadata>(this.#sql.readStreams, [streamIds]);
    for (const row of rows) {
      const events = streams.get(row.stream_id);
      if (events === undefined) streams.set(row.stream_id, [toEventWithoutMetadata(row)]);
      else events.push(toEventWithoutMetadata(row));
    }
    return streams;
  }

  /**
   * Every event committed before the call, after `from`, in global order. Events behind an older
   * transaction that is still open are waited for (briefly, re-reading), never skipped.
   */
  async *readAll(from: Position = START, options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    let after = from;
    const lastCommitted = await this.#headPosition();
    const head =
      options.to !== undefined && comparePositions(options.to, lastCommitted) < 0
        ? options.to
        : lastCommitted;
    let heldBackDelay = HELD_BACK_MIN_MS;
    while (remaining > 0 && comparePositions(after, head) < 0) {
      const rows = await this.#readAllPage(after, Math.min(this.#pageSize, remaining));
      for (const row of rows) {
        if (comparePositions(row.position as Position, head) > 0) return;
        yield toRecordedEvent(row);
      }
      remaining -= rows.length;
      const last = rows.at(-1);
      if (last !== undefined) {
        after = last.position as Position;
        heldBackDelay = HELD_BACK_MIN_MS;
      } else {
        await sleep(heldBackDelay);
        heldBackDelay = Math.min(heldBackDelay * 2, HELD_BACK_MAX_MS);
      }
    }
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    return this.#subscribe(options, (after, limit) =>
      this.#followPage(after, limit, this.#sql.followAll, toRecordedEvent),
    );
  }

  subscribeWithoutMetadata(options: SubscribeOptions = {}): Subscription<EventWithoutMetadata> {
    return this.#subscribe(options, (after, limit) =>
      this.#followPage(after, limit, this.#sql.followAllWithoutMetadata, toEventWithoutMetadata),
    );
  }

  /**
   * One `COPY` of the log in a read-only repeatable-read transaction (its snapshot is the view, or
   * the shared one a part is read in), in the primary key's order, in PostgreSQL's binary format:
   * three columns (no position built, no metadata sent), `jsonb` as the server holds it (cheaper
   * to send than as text), rows decoded as they stream in, with the socket's backpressure. A part
   * is the streams whose `hashtext` falls in it. A reader that stops early discards the
   * connection: a COPY cannot be stopped halfway and the connection kept.
   */
  async *readLogSnapshot(options: LogSnapshotOptions = {}): AsyncIterable<readonly SnapshotEvent[]> {
    const batchSize = options.batchSize ?? DEFAULT_SNAPSHOT_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const { part, types } = options;
    if (part !== undefined) {
      checkSnapshotPart(part);
      if (!SNAPSHOT_ID.test(part.snapshot))
        throw new RangeError(`no PostgreSQL snapshot is called ${part.snapshot}`);
    }
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw translateError(error);
    });
    let finished = false;
    let broken: unknown;
    try {
      await client.query("begin isolation level repeatable read read only");
      // A utility statement takes no parameters; the id was checked against SNAPSHOT_ID above.
      if (part !== undefined) await client.query(`set transaction snapshot '${part.snapshot}'`);
      // In the primary key's order as it lies: no sort of the whole log before the first row, and
      // no parallel scan (a reader of a part already shares the cores with the others).
      await client.query("set local enable_sort = off; set local max_parallel_workers_per_gather = 0");
      const copy = client.query(
        copyTo(
          this.#sql.snapshotCopy(
            types?.map((type) => client.escapeLiteral(type)),
            part === undefined ? undefined : { count: part.count, index: part.index },
          ),
        ),
      );
      yield* copyBinaryRows(copy, 3, snapshotEventOf, batchSize);
      finished = true;
    } catch (error) {
      broken = error;
      throw translateError(error);
    } finally {
      if (finished) await client.query("rollback").catch((error: unknown) => (broken = error));
      client.release(
        finished && broken === undefined ? undefined : new Error("log snapshot left unfinished"),
      );
    }
  }

  /** A read-only repeatable-read transaction kept open, its snapshot exported (`pg_export_snapshot`). */
  async shareLogSnapshot(): Promise<SharedLogSnapshot> {
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw translateError(error);
    });
    try {
      await client.query("begin isolation level repeatable read read only");
      const { rows } = await client.query<{ id: string }>("select pg_export_snapshot() as id");
      const id = rows[0]?.id ?? "";
      let released: Promise<void> | undefined;
      return {
        id,
        release: () =>
          (released ??= client.query("rollback").then(
            () => client.release(),
            (error: unknown) => client.release(error instanceof Error ? error : true),
          )),
      };
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw translateError(error);
    }
  }

  #subscribe<Event extends EventWithoutMetadata>(
    options: SubscribeOptions,
    readPage: (after: Position, limit: number) => Promise<FollowedPage<Event>>,
  ): Subscription<Event> {
    const state: SubscriptionState = {
      position: options.from ?? START,
      batchSize: options.batchSize ?? 500,
      closed: false,
      wakeOnClose: () => undefined,
    };
    const closedSignal = new Promise<void>((resolve) => (state.wakeOnClose = resolve));
    this.#wakeups.ensureListening();
    const iterator = this.#subscriptionMessages(state, closedSignal, readPage);
    const subscription: Subscription<Event> = {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        state.closed = true;
        state.wakeOnClose();
        this.#subscriptions.delete(subscription);
        await iterator.return(undefined);
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async *#subscriptionMessages<Event extends EventWithoutMetadata>(
    state: SubscriptionState,
    closedSignal: Promise<void>,
    readPage: (after: Position, limit: number) => Promise<FollowedPage<Event>>,
  ): AsyncGenerator<SubscriptionMessage<Event>> {
    // Caught up means: past every event committed when the subscription started (as in
    // EventStoreDB), so a steady stream of new writes cannot postpone the signal forever.
    const headAtStart = await this.#headPosition();
    let caughtUp = false;
    let heldBackDelay = HELD_BACK_MIN_MS;
    while (!state.closed) {
      const generation = this.#wakeups.generation;
      const { events, heldBack } = await readPage(state.position, state.batchSize);
      const last = events.at(-1);
      if (last !== undefined) {
        state.position = last.position;
        yield { kind: "events", events };
        if (events.length === state.batchSize) continue;
      }
      if (!caughtUp && comparePositions(state.position, headAtStart) >= 0) {
        caughtUp = true;
        yield { kind: "caughtUp", position: state.position };
      }
      // Committed events behind an older open transaction become readable when it ends, and
      // neither a rolled-back append nor any other transaction (a projector's, say) notifies us
      // when it ends: re-read soon instead of waiting for a notification. The page's read said
      // so, from the same snapshot as its events, so nothing can have ended in between.
      if (heldBack) {
        await Promise.race([sleep(heldBackDelay), closedSignal]);
        heldBackDelay = Math.min(heldBackDelay * 2, HELD_BACK_MAX_MS);
        continue;
      }
      heldBackDelay = HELD_BACK_MIN_MS;
      await Promise.race([this.#wakeups.waitForAppend(generation, this.#pollIntervalMs), closedSignal]);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#wakeups.close();
  }

  /** How many committed events come after `position`: how far a reader there is behind (PostgreSQL only). */
  async countAfter(position: Position): Promise<number> {
    const [order, sequence] = positionParts(position);
    const { rows } = await this.#query<{ events: string }>(this.#sql.countAfter, [order, sequence]);
    return Number(rows[0]?.events ?? 0);
  }

  /**
   * When the first committed event after `position` was recorded, readable or still held back by
   * an older open transaction (which a read would wait for); undefined when there is none.
   */
  async firstRecordedAfter(position: Position): Promise<Date | undefined> {
    const [order, sequence] = positionParts(position);
    const { rows } = await this.#query<{ recorded_at_ms: number }>(this.#sql.firstRecordedAfter, [
      order,
      sequence,
    ]);
    const first = rows[0];
    return first === undefined ? undefined : new Date(first.recorded_at_ms);
  }

  /** How many events lie after `after` and at or before `upTo` (PostgreSQL only). */
  async countBetween(after: Position, upTo: Position): Promise<number> {
    const [afterOrder, afterSequence] = positionParts(after);
    const [upToOrder, upToSequence] = positionParts(upTo);
    const { rows } = await this.#query<{ events: string }>(this.#sql.countBetween, [
      afterOrder,
      afterSequence,
      upToOrder,
      upToSequence,
    ]);
    return Number(rows[0]?.events ?? 0);
  }

  /**
   * The position of the last committed event (readable or still held back by an older open
   * transaction), or undefined for an empty log: where the log's head stands (PostgreSQL only).
   */
  async head(): Promise<Position | undefined> {
    const head = await this.#headPosition();
    return head === START ? undefined : head;
  }

  /** A page of the log after `after`: whole events, or the columns `statement` selects. */
  async #readAllPage<Row extends pg.QueryResultRow = EventRow>(
    after: Position,
    limit: number,
    statement: string = this.#sql.readAll,
  ): Promise<Row[]> {
    const [order, position] = positionParts(after);
    const { rows } = await this.#query<Row>(statement, [order, position, limit]);
    return rows;
  }

  /** The last committed event's position (visible or still held back), or START for an empty log. */
  async #headPosition(): Promise<Position> {
    const { rows } = await this.#query<{ position: string }>(this.#sql.head, []);
    return (rows[0]?.position as Position | undefined) ?? START;
  }

  /**
   * A subscription's page after `after`: up to `limit` readable events, and whether a committed
   * event after them is held back by an older open transaction. One statement, one snapshot.
   */
  async #followPage<Event>(
    after: Position,
    limit: number,
    statement: string,
    // A page without metadata is read by `toEventWithoutMetadata`, which never looks for it.
    toEvent: (row: EventRow) => Event,
  ): Promise<FollowedPage<Event>> {
    const [order, position] = positionParts(after);
    const { rows } = await this.#query<EventRow & { readable: boolean }>(statement, [order, position, limit]);
    const events: Event[] = [];
    let heldBack = false;
    for (const row of rows) {
      if (row.readable) events.push(toEvent(row));
      else heldBack = true;
    }
    return { events, heldBack };
  }

  async #appendBatch(
    appends: readonly PendingAppend[],
    afterReusedId = false,
  ): Promise<(AppendResult | Error)[]> {
    if (appends.length > 1 && repeatsAnEventId(appends)) {
      // A retry queued beside its original: run them in order, so the retry sees the original's
      // events and is recognised as idempotent (in one batch, events are written only at the end).
      const answers: (AppendResult | Error)[] = [];
      for (const append of appends) answers.push((await this.#appendBatch([append]))[0] ?? missingAnswer());
      return answers;
    }
    // Lock streams in one order across concurrent batches (no deadlocks); the sort is stable,
    // so appends to the same stream keep their arrival order.
    const ordered = appends
      .map((append, index) => ({ append, index }))
      .sort((a, b) => compareText(a.append.streamId, b.append.streamId));
    const parameters = appendBatchParameters(ordered.map(({ append }) => append));
    let rows: AppendRow[];
    try {
      ({ rows } = await this.#pool.query<AppendRow>({
        name: `${this.#schema}.append_batch`,
        text: this.#sql.appendBatch,
        values: parameters,
      }));
    } catch (error) {
      // An id written meanwhile by a transaction that committed while this one waited for its
      // index entry: once more, the look-up sees it now (a retry of the same append succeeds).
      if (appends.length === 1 && !afterReusedId && isReusedEventId(error))
        return this.#appendBatch(appends, true);
      if (appends.length === 1) return [translateError(error, appends[0])];
      // The whole batch rolled back; run each append alone so one bad append fails by itself.
      return Promise.all(
        appends.map(async (append) => (await this.#appendBatch([append]))[0] ?? missingAnswer()),
      );
    }
    if (rows.some((row) => row.appended)) this.#wakeups.announceAppend();
    const answers: (AppendResult | Error | undefined)[] = new Array<undefined>(appends.length);
    for (const row of rows) {
      const entry = ordered[row.append_index];
      if (entry === undefined) continue;
      const { append, index } = entry;
      answers[index] =
        row.appended && row.transaction_order !== null && row.global_position !== null
          ? {
              nextRevision: Number(row.revision),
              position: positionOfRow(row.transaction_order, row.global_position),
            }
          : row.duplicate_event_id !== null
            ? new DuplicateEventIdError(
                append.streamId,
                row.duplicate_event_id,
                row.duplicate_stream_id === null
                  ? null
                  : { streamId: row.duplicate_stream_id, revision: Number(row.duplicate_revision) },
              )
            : new WrongExpectedRevisionError(append.streamId, append.expected, Number(row.revision));
    }
    return answers.map((answer) => answer ?? missingAnswer());
  }

  async #query<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      const name = this.#statementNames.get(text);
      return await this.#pool.query<Row>(name === undefined ? { text, values } : { name, text, values });
    } catch (error) {
      throw translateError(error);
    }
  }
}

/** What `pg_export_snapshot` returns, e.g. `00000003-0000001B-1`: nothing else reaches the SQL. */
const SNAPSHOT_ID = /^[0-9A-F]{8}-[0-9A-F]{8}-[0-9]{1,10}$/;
const JSONB_BINARY_VERSION = 1;

/** A snapshot row in binary: text is its UTF-8; `jsonb` is a version byte (1), then its JSON text. */
function snapshotEventOf(buffer: Buffer, starts: Int32Array, ends: Int32Array): SnapshotEvent {
  const dataAt = starts[2] ?? -1;
  if (buffer[dataAt] !== JSONB_BINARY_VERSION) {
    throw new Error(`jsonb in binary format version ${buffer[dataAt]}: only version 1 is known`);
  }
  return {
    streamId: buffer.toString("utf8", starts[0], ends[0]),
    type: buffer.toString("utf8", starts[1], ends[1]),
    data: JSON.parse(buffer.toString("utf8", dataAt + 1, ends[2])) as Readonly<Record<string, unknown>>,
  };
}

/**
 * A name for each of the hot fixed statements (`<schema>.<key>`, as `append_batch`'s): a named
 * statement is parsed and planned once per connection, then only bound and run. A stream's read
 * cost PostgreSQL 0.165 ms a call unnamed and 0.082 ms prepared (pgbench, one client), and a pull
 * or an SMS reads a few streams. After a few runs PostgreSQL may keep a generic plan, made without
 * the values: only statements whose generic plan is the index scan their custom plans are are
 * prepared (`PostgresEventStore.int.test.ts` checks each). (An `exists` over the events after a
 * position was not: its generic plan scanned the whole log, 13.8 ms at 60,000 events, where the
 * index answers in 0.1 ms. A subscription's page now asks it as the first held-back event in
 * position order, which the index answers in any plan.)
 */
function statementNames(schema: string, sql: ReturnType<typeof statements>): ReadonlyMap<string, string> {
  return new Map(PREPARED_STATEMENTS.map((key) => [sql[key], `${schema}.${key}`]));
}

/** The statements prepared under a name (`statementNames`). */
export const PREPARED_STATEMENTS = [
  "readStreamForwards",
  "readStreamBackwards",
  "readStreams",
  "readStreamPages",
  "readAll",
  "followAll",
  "followAllWithoutMetadata",
  "head",
] as const satisfies readonly (keyof ReturnType<typeof statements>)[];

/** The text of each prepared statement over `schema`, by its key (for the test of their plans). */
export function preparedStatementTexts(schema: string): Record<(typeof PREPARED_STATEMENTS)[number], string> {
  const sql = statements(schema);
  return Object.fromEntries(PREPARED_STATEMENTS.map((key) => [key, sql[key]])) as Record<
    (typeof PREPARED_STATEMENTS)[number],
    string
  >;
}

function statements(schema: string) {
  const events = `"${schema}".events`;
  // The position token is built by the server: fixed-width hex compares correctly as text.
  const position = `lpad(to_hex(transaction_order), 16, '0') || '-' || lpad(to_hex(global_position), 16, '0')`;
  const columnsWithoutMetadata = `${position} as position,
    stream_id, stream_revision, event_id, event_type, data,
    floor(extract(epoch from recorded_at) * 1000)::float8 as recorded_at_ms`;
  const columns = `${columnsWithoutMetadata}, metadata`;
  // Older than every running transaction, in the log's order (transaction id + the log's offset;
  // see migration 0002). A scalar subquery: evaluated once per statement, usable by the index.
  const horizon = `(select pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    + transaction_order_offset from "${schema}".log_origin)`;
  const visible = `transaction_order < ${horizon}`;
  const readAllOf = (selected: string) => `select ${selected} from ${events}
      where (transaction_order, global_position) > ($1::bigint, $2::bigint) and ${visible}
      order by transaction_order, global_position limit $3`;
  // A subscription's page: the readable events, then the first event held back by an older open
  // transaction, if any (readable = false). Every readable event sorts before every held-back one.
  // The held-back one is sought from the later of the position and the horizon, so that a reader
  // far behind does not walk the index through every readable event to find it.
  const followAllOf = (selected: string) => `select * from (
      (select ${selected}, true as readable from ${events}
        where (transaction_order, global_position) > ($1::bigint, $2::bigint) and ${visible}
        order by transaction_order, global_position limit $3)
      union all
      (select ${selected}, false as readable from ${events}
        where (transaction_order, global_position) > (greatest($1::bigint, ${horizon}),
                case when $1::bigint >= ${horizon} then $2::bigint else -1 end)
        order by transaction_order, global_position limit 1)
    ) page order by position`;
  return {
    appendBatch: `select * from "${schema}".append_batch($1::text[], $2::bigint[], $3::jsonb)`,
    readStreamForwards: `select ${columns} from ${events}
      where stream_id = $1 and stream_revision >= $2 order by stream_revision limit $3`,
    readStreamBackwards: `select ${columns} from ${events}
      where stream_id = $1 and stream_revision <= $2 order by stream_revision desc limit $3`,
    readStreams: `select ${columnsWithoutMetadata} from ${events}
      where stream_id = any($1::text[]) order by stream_id, stream_revision`,
    /** Each request's page (numbered from 1, in the arrays' order), as `readStreamForwards` reads one. */
    readStreamPages: `select request.page, found.* from
      unnest($1::text[], $2::bigint[], $3::int[]) with ordinality as request (wanted_stream, wanted_from, wanted_count, page)
      cross join lateral (select ${columns} from ${events}
        where stream_id = request.wanted_stream and stream_revision >= request.wanted_from
        order by stream_revision limit request.wanted_count) as found
      order by request.page, found.stream_revision`,
    readAll: readAllOf(columns),
    followAll: followAllOf(columns),
    followAllWithoutMetadata: followAllOf(columnsWithoutMetadata),
    /** COPY takes no parameters: `typeLiterals` are quoted already, a part's numbers checked. */
    snapshotCopy: (
      typeLiterals: readonly string[] | undefined,
      part: { readonly count: number; readonly index: number } | undefined,
    ) => {
      const conditions = [
        ...(typeLiterals === undefined
          ? []
          : [`event_type = any(array[${typeLiterals.join(", ")}]::text[])`]),
        // hashtext is an int4: shifted to 0 .. 2^32 - 1 before it is split, so no sign gets in the way.
        ...(part === undefined
          ? []
          : [`mod(hashtext(stream_id)::int8 + 2147483648, ${part.count}) = ${part.index}`]),
      ];
      return `copy (select stream_id, event_type, data from ${events}
        ${conditions.length === 0 ? "" : `where ${conditions.join(" and ")}`}
        order by transaction_order, global_position) to stdout (format binary)`;
    },
    countAfter: `select count(*) as events from ${events}
      where (transaction_order, global_position) > ($1::bigint, $2::bigint)`,
    countBetween: `select count(*) as events from ${events}
      where (transaction_order, global_position) > ($1::bigint, $2::bigint)
        and (transaction_order, global_position) <= ($3::bigint, $4::bigint)`,
    head: `select ${position} as position from ${events} order by transaction_order desc, global_position desc limit 1`,
    firstRecordedAfter: `select floor(extract(epoch from recorded_at) * 1000)::float8 as recorded_at_ms from ${events}
      where (transaction_order, global_position) > ($1::bigint, $2::bigint)
      order by transaction_order, global_position limit 1`,
  };
}

/**
 * The parameters of one `append_batch` call: stream ids, expected revision codes, and each
 * append's events as one JSON array of arrays (built from the already serialised events, so
 * nothing is stringified twice). Exported for tests that hold an append's transaction open.
 */
export function appendBatchParameters(appends: readonly PendingAppend[]): [string[], number[], string] {
  const events = appends.map(
    (append) =>
      `[${append.events
        .map(
          (event) =>
            `{"i":"${event.id}","t":${JSON.stringify(event.type)},"d":${event.dataJson},"m":${event.metadataJson}}`,
        )
        .join(",")}]`,
  );
  return [
    appends.map((append) => append.streamId),
    appends.map((append) =>
      typeof append.expected === "number" ? append.expected : EXPECTED_CODES[append.expected],
    ),
    `[${events.join(",")}]`,
  ];
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return { ...toEventWithoutMetadata(row), metadata: row.metadata };
}

function toEventWithoutMetadata(row: EventRowWithoutMetadata): EventWithoutMetadata {
  return {
    id: row.event_id,
    type: row.event_type,
    data: row.data,
    streamId: row.stream_id,
    revision: Number(row.stream_revision),
    position: row.position as Position,
    recordedAt: new Date(row.recorded_at_ms),
  };
}

function positionOfRow(transactionOrder: string, globalPosition: string): Position {
  const text = `${BigInt(transactionOrder).toString(16).padStart(16, "0")}-${BigInt(globalPosition).toString(16).padStart(16, "0")}`;
  const position = parsePosition(text);
  if (position === undefined) throw new Error(`malformed position from the database: ${text}`);
  return position;
}

function translateError(error: unknown, append?: PendingAppend): Error {
  const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
  const isSqlState = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
  const message = error instanceof Error ? error.message : String(error);
  // Connection-level failures (no SQLSTATE, or class 08 / 57P) leave an append's outcome unknown.
  if (!isSqlState || code.startsWith("08") || code.startsWith("57P")) {
    return new EventStoreUnavailableError(`PostgreSQL event store unavailable: ${message}`, { cause: error });
  }
  // Refused, written nothing: the log is being imported (migration 0003). Try again later.
  if (code === IMPORT_UNDER_WAY) return new LogImportUnderWayError(message, { cause: error });
  // A reused id that the append's own look-up could not see: not its first event's, or written
  // by a transaction that committed while this one waited for the index entry.
  if (isReusedEventId(error) && append !== undefined) {
    const eventId = /=\(([0-9a-f-]{36})\)/.exec(typeof detail === "string" ? detail : "")?.[1];
    return new DuplicateEventIdError(append.streamId, eventId ?? "(unknown)", null);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function isReusedEventId(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === UNIQUE_VIOLATION && constraint === "events_event_id_key";
}

function checkedSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`event store schema must match ${SCHEMA_NAME}: ${schema}`);
  return schema;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function repeatsAnEventId(appends: readonly PendingAppend[]): boolean {
  const seen = new Set<string>();
  for (const append of appends) {
    for (const event of append.events) {
      if (seen.has(event.id)) return true;
      seen.add(event.id);
    }
  }
  return false;
}

function missingAnswer(): Error {
  return new Error("the append batch returned no answer for this append");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
