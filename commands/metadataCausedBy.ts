import type { EventMetadata, RecordedEvent } from "../gateways/eventStore/EventStore.ts";

/**
 * The metadata of a command a policy or gateway runs because of `cause`: the same correlation
 * and trace, the cause's id as causation, and who acted.
 */
export function metadataCausedBy(cause: RecordedEvent, actor: string): EventMetadata {
  return {
    correlationId: cause.metadata.correlationId,
    causationId: cause.id,
    actor,
    ...(cause.metadata.traceparent === undefined ? {} : { traceparent: cause.metadata.traceparent }),
    ...(cause.metadata.tracestate === undefined ? {} : { tracestate: cause.metadata.tracestate }),
  };
}
