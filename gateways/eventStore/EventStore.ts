import type { Position } from "./Position.ts";

/** A JSON value as it is stored: what `JSON.parse` can return. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object: event data is always one. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * What travels with every event besides its data: who caused it and how it fits in a trace.
 * `traceparent` / `tracestate` are W3C Trace Context headers.
 */
export interface EventMetadata {
  readonly correlationId: string;
  readonly causationId?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly actor: string;
}

/**
 * An event as a writer hands it to the store. The id (a UUID) names the event in the whole log:
 * see `EventStore.append` for what a retry with the same ids does.
 */
export interface EventToAppend<Type extends string = string, Data extends JsonObject = JsonObject> {
  readonly id: string;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

/** An event as the store recorded it. */
export interface RecordedEvent<
  Type extends string = string,
  Data extends JsonObject = JsonObject,
> extends EventToAppend<Type, Data> {
  readonly streamId: string;
  /** 0-based index of the event in its stream. */
  readonly revision: number;
  /** Place in the global log; strictly increasing in the order subscribers see events. */
  readonly position: Position;
  readonly recordedAt: Date;
}

/**
 * What the writer believes about the stream: `any` (no check), `no_stream` (must not exist),
 * `stream_exists` (must exist), or the exact revision of its last event.
 */
export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | number;

/** The outcome of a successful append. */
export interface AppendResult {
  /** Revision of the last event now in the stream: pass it as the next expected revision. */
  readonly nextRevision: number;
  /** Global position of the last appended event. */
  readonly position: Position;
}

export type ReadDirection = "forwards" | "backwards";

export interface ReadStreamOptions {
  readonly direction?: ReadDirection;
  /** First revision to return (inclusive); default: the start (forwards) or the end (backwards). */
  readonly fromRevision?: number;
  /** Stop after this many events. */
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Stop after this many events. */
  readonly maxCount?: number;
  /**
   * Stop after this position (inclusive). A reader that knows where it must stop needs it: on
   * PostgreSQL, events after it may be held back by the reader's own open transaction, and
   * reading on would wait for them forever.
   */
  readonly to?: Position;
}

export interface SubscribeOptions {
  /** Deliver events after this position (exclusive); default: from the start. */
  readonly from?: Position;
  /** Largest batch handed over at once (default 500). */
  readonly batchSize?: number;
}

/**
 * A recorded event without its metadata: what a reader that never looks at metadata (a
 * projection) is handed, so that it cannot come to depend on it.
 */
export type EventWithoutMetadata<Type extends string = string, Data extends JsonObject = JsonObject> = Omit<
  RecordedEvent<Type, Data>,
  "metadata"
>;

/**
 * What a subscription yields: batches of events in global order, and once, when it first reaches
 * the head of the log, `caughtUp` (from then on it is live).
 */
export type SubscriptionMessage<Event extends EventWithoutMetadata = RecordedEvent> =
  | { readonly kind: "events"; readonly events: readonly Event[] }
  | { readonly kind: "caughtUp"; readonly position: Position };

/** An event as a log snapshot gives it: its stream, type and data. */
export interface SnapshotEvent {
  readonly streamId: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface LogSnapshotOptions {
  /** Only events of these types (all when absent). */
  readonly types?: readonly string[];
  /** Events per batch handed over; 5,000 by default. */
  readonly batchSize?: number;
  /**
   * One part of a shared snapshot (`EventStore.shareLogSnapshot`) instead of the log as it stands:
   * the events of the streams that fall in part `index` of `count`, in global order. Every event
   * of a stream falls in the same part, and the parts together hold each event once.
   */
  readonly part?: LogSnapshotPart;
}

export interface LogSnapshotPart {
  /** `SharedLogSnapshot.id`. */
  readonly snapshot: string;
  /** Which part, from 0 to `count - 1`. */
  readonly index: number;
  /** How many parts the log is split into (1 to `MAX_SNAPSHOT_PARTS`). */
  readonly count: number;
}

export const MAX_SNAPSHOT_PARTS = 64;

/** The log as it stood at one moment, held for readers of its parts until released. */
export interface SharedLogSnapshot {
  /** Passed to readers, in this process or another, as `LogSnapshotPart.snapshot`. */
  readonly id: string;
  /** Lets the snapshot go; a part whose read has begun reads on. Once is enough; more do nothing. */
  release(): Promise<void>;
}

/** A part's bounds, checked before any read: a RangeError names what is wrong. */
export function checkSnapshotPart(part: LogSnapshotPart): void {
  if (!Number.isSafeInteger(part.count) || part.count < 1 || part.count > MAX_SNAPSHOT_PARTS) {
    throw new RangeError(`a snapshot splits into 1 to ${MAX_SNAPSHOT_PARTS} parts, not ${part.count}`);
  }
  if (!Number.isSafeInteger(part.index) || part.index < 0 || part.index >= part.count) {
    throw new RangeError(`part ${part.index} is not one of 0 to ${part.count - 1}`);
  }
}

export const DEFAULT_SNAPSHOT_BATCH_SIZE = 5000;

/**
 * `readLogSnapshot` over `readAll`, for stores without a cheaper way: the same events, filtered
 * by type and cut into batches.
 */
export async function* snapshotOfReadAll(
  events: AsyncIterable<SnapshotEvent>,
  options: LogSnapshotOptions = {},
): AsyncIterable<readonly SnapshotEvent[]> {
  if (options.part !== undefined) {
    throw new RangeError("this event store shares no snapshot: it reads the log whole, not in parts");
  }
  const types = options.types === undefined ? undefined : new Set(options.types);
  const size = options.batchSize ?? DEFAULT_SNAPSHOT_BATCH_SIZE;
  let batch: SnapshotEvent[] = [];
  for await (const { streamId, type, data } of events) {
    if (types !== undefined && !types.has(type)) continue;
    batch.push({ streamId, type, data });
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * A catch-up subscription to the whole log. Pulling drives it (backpressure: the store reads the
 * next batch only when the consumer asks); `close()` or leaving a `for await` loop ends it.
 */
export interface Subscription<Event extends EventWithoutMetadata = RecordedEvent> extends AsyncIterable<
  SubscriptionMessage<Event>
> {
  close(): Promise<void>;
}

/**
 * The event store port. Streams are ordered lists of events named `<category>-<id>`; the log is
 * every event of every stream in one global order that never changes once a reader has seen it.
 * Every read is streamed: nothing loads an unbounded stream into memory.
 */
export interface EventStore {
  /**
   * Appends events to one stream atomically, if the stream is at `expected`. The events come
   * after every earlier revision of the stream in the global order, and the position answered
   * is after theirs.
   *
   * Event ids are unique in the log. Re-appending events whose ids already stand in this stream,
   * in this order, with the same types and data, at the place `expected` allows (the next
   * revision for an exact one, revision 0 for `no_stream`, anywhere for `any` and
   * `stream_exists`) is an idempotent success with the original result, even after other
   * appends to the stream. Metadata is not compared: a retry may carry another trace.
   * @throws DuplicateEventIdError when an id is reused in any other way (another stream,
   * another place, other content, only some of the ids); nothing is written.
   * @throws WrongExpectedRevisionError when the stream is elsewhere.
   * @throws InvalidAppendError for malformed input; nothing is written.
   */
  append(
    streamId: string,
    expected: ExpectedRevision,
    events: readonly EventToAppend[],
  ): Promise<AppendResult>;

  /** One stream's events, in revision order (or reverse); empty when the stream does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;

  /**
   * Several whole streams in one read, for folding many states at once (a bulk import): each
   * existing stream's events in revision order, without metadata; a stream that does not exist
   * is not in the map. Absent in stores that read one stream at a time (EventStoreDB).
   */
  readStreams?(streamIds: readonly string[]): Promise<ReadonlyMap<string, readonly EventWithoutMetadata[]>>;

  /** Every event after `from` (exclusive) in global order, up to the current head. */
  readAll(from?: Position, options?: ReadAllOptions): AsyncIterable<RecordedEvent>;

  /** Catch up from a position, then follow new events live. */
  subscribe(options?: SubscribeOptions): Subscription;

  /**
   * `subscribe` for readers that never look at metadata (the projections): the same events in the
   * same batches, without `metadata`. PostgreSQL then neither sends nor decodes it, which a
   * rebuild, reading the whole log, feels (about a tenth of its time).
   */
  subscribeWithoutMetadata(options?: SubscribeOptions): Subscription<EventWithoutMetadata>;

  /**
   * The whole log as it stands when the read begins, in global order, in batches: for a replay
   * that folds all of it and needs neither positions nor metadata (a backtest). Only the events
   * of `types`, when given. One consistent view: what is committed after the read began is not in
   * it. PostgreSQL reads it with one binary COPY, sending only the three fields.
   */
  readLogSnapshot(options?: LogSnapshotOptions): AsyncIterable<readonly SnapshotEvent[]>;

  /**
   * Holds the log as it stands now for several readers of its parts (`readLogSnapshot` with
   * `part`), each on its own connection (in another thread or process), so that a replay can be
   * split by stream and still see one consistent log. Absent in stores that cannot (EventStoreDB):
   * they are read whole. PostgreSQL exports the snapshot of a transaction it keeps open until
   * `release`.
   */
  shareLogSnapshot?(): Promise<SharedLogSnapshot>;

  /** Releases connections; pending subscriptions end. */
  close(): Promise<void>;
}
