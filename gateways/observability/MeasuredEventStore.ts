import type {
  AppendResult,
  EventStore,
  EventToAppend,
  EventWithoutMetadata,
  ExpectedRevision,
  LogSnapshotOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SharedLogSnapshot,
  SnapshotEvent,
  SubscribeOptions,
  Subscription,
} from "../eventStore/EventStore.ts";
import type { Position } from "../eventStore/Position.ts";
import type { Metrics } from "./Metrics.ts";
import { context } from "@opentelemetry/api";
import { inSpan, SpanKind } from "./traceContext.ts";

/**
 * The event store, measured: every append's latency and outcome, and — read off the events this
 * process records — SMS submissions and delivery statuses per provider. Counting at the append
 * means a metric moves exactly when the fact is recorded, whichever role recorded it.
 */
export class MeasuredEventStore implements EventStore {
  readonly #store: EventStore;
  readonly #metrics: Metrics;
  /** The store's own, when it has one. */
  readonly shareLogSnapshot?: () => Promise<SharedLogSnapshot>;
  readonly readStreams?: NonNullable<EventStore["readStreams"]>;

  constructor(store: EventStore, metrics: Metrics) {
    this.#store = store;
    this.#metrics = metrics;
    if (store.shareLogSnapshot !== undefined) this.shareLogSnapshot = store.shareLogSnapshot.bind(store);
    if (store.readStreams !== undefined) this.readStreams = store.readStreams.bind(store);
  }

  append(
    streamId: string,
    expected: ExpectedRevision,
    events: readonly EventToAppend[],
  ): Promise<AppendResult> {
    const category = streamId.split("-", 1)[0] ?? streamId;
    return inSpan(
      `append ${category}`,
      SpanKind.INTERNAL,
      context.active(),
      { "tidemark.stream": streamId },
      () => this.#append(streamId, expected, events),
    );
  }

  async #append(
    streamId: string,
    expected: ExpectedRevision,
    events: readonly EventToAppend[],
  ): Promise<AppendResult> {
    const stop = this.#metrics.appendDuration.startTimer();
    try {
      const result = await this.#store.append(streamId, expected, events);
      this.#metrics.appends.inc({ outcome: "ok" });
      for (const event of events) this.#count(event);
      return result;
    } catch (error) {
      this.#metrics.appends.inc({
        outcome: (error as { code?: unknown }).code === "wrong_expected_revision" ? "conflict" : "error",
      });
      throw error;
    } finally {
      stop();
    }
  }

  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent> {
    return this.#store.readStream(streamId, options);
  }

  readAll(from?: Position, options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    return this.#store.readAll(from, options);
  }

  subscribe(options?: SubscribeOptions): Subscription {
    return this.#store.subscribe(options);
  }

  subscribeWithoutMetadata(options?: SubscribeOptions): Subscription<EventWithoutMetadata> {
    return this.#store.subscribeWithoutMetadata(options);
  }

  readLogSnapshot(options?: LogSnapshotOptions): AsyncIterable<readonly SnapshotEvent[]> {
    return this.#store.readLogSnapshot(options);
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  #count(event: EventToAppend): void {
    const provider = typeof event.data.provider === "string" ? event.data.provider : "unknown";
    switch (event.type) {
      case "SmsSubmitted":
        this.#metrics.smsSubmissions.inc({ provider, outcome: "submitted" });
        break;
      case "SmsSubmissionFailed":
        this.#metrics.smsSubmissions.inc({ provider, outcome: "failed" });
        break;
      case "SmsStatusReported":
        this.#metrics.smsDeliveryStatuses.inc({
          provider,
          status: typeof event.data.status === "string" ? event.data.status : "unknown",
        });
        break;
    }
  }
}
