import type { Options } from "amqplib";
import { deliveryPriority } from "../../domain/notification/deliveryPriority.ts";
import {
  NOTIFICATION_EVENT_TYPES,
  type NotificationEvent,
} from "../../domain/notification/NotificationEvent.ts";
import type { EventMetadata, JsonObject, RecordedEvent } from "../eventStore/EventStore.ts";
import { parsePosition } from "../eventStore/Position.ts";

/**
 * How an event travels through RabbitMQ: the body is the recorded event as JSON; the message id
 * is the event id (consumers and the broker's tooling can spot duplicates), the correlation id
 * and W3C trace context ride in properties and headers so a trace continues in the consumer, and
 * the priority (`messagePriority`) orders the message in a priority queue.
 */
export interface EventMessage {
  readonly routingKey: string;
  readonly body: Buffer;
  readonly options: Options.Publish;
}

/** `<stream category>.<event type>`, e.g. `account.BalanceObserved`: bind `*.<type>` or `account.#`. */
export function routingKeyOf(event: Pick<RecordedEvent, "streamId" | "type">): string {
  const dash = event.streamId.indexOf("-");
  const category = dash > 0 ? event.streamId.slice(0, dash) : event.streamId;
  return `${category}.${event.type}`;
}

const NOTIFICATION_TYPES: ReadonlySet<string> = new Set(NOTIFICATION_EVENT_TYPES);

/**
 * The AMQP priority of an event's message, as the domain decides it (`deliveryPriority`: a
 * service alert's request above a marketing offer's); undefined for an event with none. Only a
 * priority queue (`x-max-priority`) looks at it; every other queue ignores it.
 */
export function messagePriority(event: Pick<RecordedEvent, "type" | "data">): number | undefined {
  if (!NOTIFICATION_TYPES.has(event.type)) return undefined;
  // Written by the notification decider under this type: its data has the type's shape.
  return deliveryPriority({ type: event.type, data: event.data } as unknown as NotificationEvent);
}

export function toEventMessage(event: RecordedEvent): EventMessage {
  const headers: Record<string, string | number> = {
    "x-stream-id": event.streamId,
    "x-revision": event.revision,
    "x-position": event.position,
  };
  if (event.metadata.causationId !== undefined) headers["x-causation-id"] = event.metadata.causationId;
  if (event.metadata.traceparent !== undefined) headers.traceparent = event.metadata.traceparent;
  if (event.metadata.tracestate !== undefined) headers.tracestate = event.metadata.tracestate;
  return {
    routingKey: routingKeyOf(event),
    body: Buffer.from(
      JSON.stringify({
        id: event.id,
        type: event.type,
        streamId: event.streamId,
        revision: event.revision,
        position: event.position,
        recordedAt: event.recordedAt.toISOString(),
        data: event.data,
        metadata: event.metadata,
      }),
    ),
    options: {
      persistent: true,
      messageId: event.id,
      type: event.type,
      contentType: "application/json",
      correlationId: event.metadata.correlationId,
      timestamp: Math.floor(event.recordedAt.getTime() / 1000),
      headers,
      priority: messagePriority(event),
    },
  };
}

/** @throws Error naming what is wrong when the body is not an event as `toEventMessage` wrote it. */
export function fromEventMessageBody(body: Buffer): RecordedEvent {
  const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  const position = typeof parsed.position === "string" ? parsePosition(parsed.position) : undefined;
  const recordedAt = typeof parsed.recordedAt === "string" ? new Date(parsed.recordedAt) : undefined;
  if (
    typeof parsed.id !== "string" ||
    typeof parsed.type !== "string" ||
    typeof parsed.streamId !== "string" ||
    typeof parsed.revision !== "number" ||
    position === undefined ||
    recordedAt === undefined ||
    Number.isNaN(recordedAt.getTime()) ||
    typeof parsed.data !== "object" ||
    parsed.data === null ||
    typeof parsed.metadata !== "object" ||
    parsed.metadata === null
  ) {
    throw new Error(
      "not an event message: id, type, streamId, revision, position, recordedAt, data, metadata expected",
    );
  }
  return {
    id: parsed.id,
    type: parsed.type,
    streamId: parsed.streamId,
    revision: parsed.revision,
    position,
    recordedAt,
    data: parsed.data as JsonObject,
    metadata: parsed.metadata as EventMetadata,
  };
}
