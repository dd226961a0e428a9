import {
  ANY,
  BACKWARDS,
  END,
  FORWARDS,
  NO_STREAM,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type EventStoreDBClient,
  type ResolvedEvent,
} from "@eventstore/db-client";
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
import { snapshotOfReadAll } from "../EventStore.ts";
import {
  EventStoreUnavailableError,
  InvalidAppendError,
  WrongExpectedRevisionError,
} from "../EventStoreError.ts";
import { START, positionOf, positionParts, type Position } from "../Position.ts";
import { DEFAULT_MAX_EVENT_BYTES, validateAppend } from "../validateAppend.ts";

/**
 * The event store port on EventStoreDB / KurrentDB (the production store the customer's design
 * names). Positions are the server's commit/prepare pair; system events (`$…`) are never shown.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly #client: EventStoreDBClient;
  readonly #maxEventBytes: number;

  constructor(client: EventStoreDBClient, options: { maxEventBytes?: number } = {}) {
    this.#client = client;
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  async append(
    streamId: string,
    expected: ExpectedRevision,
    events: readonly EventToAppend[],
  ): Promise<AppendResult> {
    const checked = validateAppend(streamId, expected, events, this.#maxEventBytes);
    const toWrite = events.map((event, index) =>
      jsonEvent({
        id: checked.events[index]?.id ?? event.id,
        type: event.type,
        data: event.data,
        metadata: event.metadata,
      }),
    );
    try {
      const result = await this.#client.appendToStream(streamId, toWrite, {
        expectedRevision: toExpectedRevision(checked.expected),
      });
      if (result.position === undefined) {
        throw new EventStoreUnavailableError("EventStoreDB acknowledged an append without a position");
      }
      return {
        nextRevision: Number(result.nextExpectedRevision),
        position: positionOf(result.position.commit, result.position.prepare),
      };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        throw new WrongExpectedRevisionError(streamId, checked.expected, toRevision(error.actualVersion));
      }
      throw translateError(error);
    }
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === "backwards";
    const read = this.#client.readStream(streamId, {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision:
        options.fromRevision === undefined ? (backwards ? END : ESDB_START) : BigInt(options.fromRevision),
      ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
    });
    try {
      for await (const resolved of read) {
        const event = toRecordedEvent(resolved);
        if (event !== undefined) yield event;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return;
      throw translateError(error);
    }
  }

  async *readAll(from: Position = START, options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    const read = this.#client.readAll({
      direction: FORWARDS,
      fromPosition: toEsdbPosition(from),
      resolveLinkTos: false,
    });
    try {
      for await (const resolved of read) {
        const event = toRecordedEvent(resolved);
        // The server's start position is inclusive; the port's is exclusive.
        if (event === undefined || event.position === from) continue;
        if (options.to !== undefined && event.position > options.to) return;
        yield event;
        remaining -= 1;
        if (remaining <= 0) return;
      }
    } catch (error) {
      throw translateError(error);
    }
  }

  readLogSnapshot(options?: LogSnapshotOptions): AsyncIterable<readonly SnapshotEvent[]> {
    return snapshotOfReadAll(this.readAll(), options);
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    const from = options.from ?? START;
    const batchSize = options.batchSize ?? 500;
    const subscription = this.#client.subscribeToAll({
      fromPosition: toEsdbPosition(from),
      filter: excludeSystemEvents(),
      resolveLinkTos: false,
    });
    let caughtUp = false;
    let pendingCaughtUp = false;
    let lastPosition = from;
    subscription.on("caughtUp", () => {
      if (!caughtUp) pendingCaughtUp = true;
    });

    async function* messages(): AsyncGenerator<SubscriptionMessage> {
      let batch: RecordedEvent[] = [];
      try {
        for await (const resolved of subscription) {
          const event = toRecordedEvent(resolved);
          if (event !== undefined && event.position !== from) {
            batch.push(event);
            lastPosition = event.position;
          }
          if (batch.length >= batchSize || (batch.length > 0 && subscription.readableLength === 0)) {
            yield { kind: "events", events: batch };
            batch = [];
          }
          if (pendingCaughtUp && batch.length === 0) {
            pendingCaughtUp = false;
            caughtUp = true;
            yield { kind: "caughtUp", position: lastPosition };
          }
        }
      } catch (error) {
        throw translateError(error);
      } finally {
        await subscription.unsubscribe();
      }
    }

    const iterator = messages();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        await subscription.unsubscribe();
        await iterator.return(undefined);
      },
    };
  }

  /** EventStoreDB sends each event's metadata with it anyway: this is `subscribe`. */
  subscribeWithoutMetadata(options: SubscribeOptions = {}): Subscription<EventWithoutMetadata> {
    return this.subscribe(options);
  }

  async close(): Promise<void> {
    await this.#client.dispose();
  }
}

function toExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case "any":
      return ANY;
    case "no_stream":
      return NO_STREAM;
    case "stream_exists":
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
}

function toRevision(actual: unknown): number {
  return typeof actual === "bigint" ? Number(actual) : -1;
}

function toEsdbPosition(position: Position): typeof ESDB_START | { commit: bigint; prepare: bigint } {
  if (position === START) return ESDB_START;
  const [commit, prepare] = positionParts(position);
  return { commit, prepare };
}

function toRecordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event;
  if (event === undefined || event.type.startsWith("$") || !event.isJson) return undefined;
  const position = event.position;
  if (position === undefined) {
    throw new EventStoreUnavailableError(`EventStoreDB returned event ${event.id} without a position`);
  }
  return {
    id: event.id,
    type: event.type,
    data: event.data as JsonObject,
    metadata: event.metadata as unknown as EventMetadata,
    streamId: event.streamId,
    revision: Number(event.revision),
    position: positionOf(position.commit, position.prepare),
    recordedAt: event.created,
  };
}

function translateError(error: unknown): Error {
  if (error instanceof InvalidAppendError || error instanceof EventStoreUnavailableError) return error;
  const message = error instanceof Error ? error.message : "unknown error";
  return new EventStoreUnavailableError(`EventStoreDB: ${message}`, { cause: error });
}
