import type { ExpectedRevision } from "./EventStore.ts";

/** Machine-readable codes of every error the event store port throws. */
export type EventStoreErrorCode =
  "wrong_expected_revision" | "duplicate_event_id" | "invalid_append" | "event_store_unavailable";

/** Base of the port's errors: a code callers switch on, never a driver's error type. */
export abstract class EventStoreError extends Error {
  abstract readonly code: EventStoreErrorCode;
}

/**
 * The stream was not at the revision the append expected. `actual` is the stream's revision
 * when the append was refused (`-1`: the stream does not exist).
 */
export class WrongExpectedRevisionError extends EventStoreError {
  readonly code = "wrong_expected_revision";

  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number,
  ) {
    super(
      `stream ${streamId}: expected revision ${String(expected)}, but it is ${actual === -1 ? "absent" : `at ${actual}`}`,
    );
    this.name = "WrongExpectedRevisionError";
  }
}

/**
 * An event id of the append already stands in the log, and not as this append's own earlier
 * success (same stream, same place, same types and data): nothing was written. `existing` says
 * where the id stands, when the store knows.
 */
export class DuplicateEventIdError extends EventStoreError {
  readonly code = "duplicate_event_id";

  constructor(
    readonly streamId: string,
    readonly eventId: string,
    readonly existing: { readonly streamId: string; readonly revision: number } | null,
  ) {
    super(
      `stream ${streamId}: event id ${eventId} is already in the log${existing === null ? "" : ` (stream ${existing.streamId}, revision ${existing.revision})`}; an event id names one event, retried only with the same stream, place and content`,
    );
    this.name = "DuplicateEventIdError";
  }
}

/** Why an append was refused before anything was written. */
export type InvalidAppendReason =
  | "empty_event_list"
  | "bad_stream_id"
  | "bad_expected_revision"
  | "bad_event_id"
  | "bad_event_type"
  | "data_not_json"
  | "metadata_invalid"
  | "event_too_large";

/** The append was malformed; nothing was written. */
export class InvalidAppendError extends EventStoreError {
  readonly code = "invalid_append";

  constructor(
    readonly reason: InvalidAppendReason,
    message: string,
  ) {
    super(message);
    this.name = "InvalidAppendError";
  }
}

/** The store could not be reached or failed; whether an in-flight append was written is unknown. */
export class EventStoreUnavailableError extends EventStoreError {
  readonly code = "event_store_unavailable";

  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "EventStoreUnavailableError";
  }
}

/** Nothing was written: the log is being imported (or an import stopped half-way); try again after it. */
export class LogImportUnderWayError extends EventStoreUnavailableError {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "LogImportUnderWayError";
  }
}
