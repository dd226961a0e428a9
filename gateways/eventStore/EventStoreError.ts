import type { ExpectedRevision } from "./EventStore.ts";

/** Machine-readable codes of every error the event store port throws. */
export type EventStoreErrorCode = "wrong_expected_revision" | "invalid_append" | "event_store_unavailable";

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
