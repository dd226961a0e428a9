import type { EventToAppend, ExpectedRevision } from "./EventStore.ts";
import { InvalidAppendError } from "./EventStoreError.ts";

/** Default largest serialised event (data + metadata), in bytes. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** An event checked and serialised once, so adapters never stringify twice. */
export interface SerializedEvent {
  readonly id: string;
  readonly type: string;
  readonly dataJson: string;
  readonly metadataJson: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const STREAM_ID = /^\S{1,200}$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/;
// JSON escapes PostgreSQL's jsonb refuses: NUL, and a surrogate half without its partner.
const UNSTORABLE_ESCAPE =
  /(?<!\\)(?:\\\\)*\\u(?:0000|d[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|d[c-f][0-9a-f]{2})/i;

/**
 * Whether an append would take `streamId` (1-200 non-blank characters, no NUL): a stream whose
 * id is not has no events, and reading it needs no round trip.
 */
export function isPossibleStreamId(streamId: string): boolean {
  return STREAM_ID.test(streamId) && !streamId.includes("\u0000");
}

/**
 * Checks an append before any adapter touches the store, so that bad input is refused with a
 * typed error and nothing is written.
 * @throws InvalidAppendError naming what is wrong.
 */
export function validateAppend(
  streamId: unknown,
  expected: unknown,
  events: unknown,
  maxEventBytes = DEFAULT_MAX_EVENT_BYTES,
): { streamId: string; expected: ExpectedRevision; events: SerializedEvent[] } {
  if (typeof streamId !== "string" || !isPossibleStreamId(streamId)) {
    throw new InvalidAppendError("bad_stream_id", `stream id must be 1-200 non-blank characters`);
  }
  if (!isExpectedRevision(expected)) {
    throw new InvalidAppendError(
      "bad_expected_revision",
      `expected revision must be "any", "no_stream", "stream_exists" or a revision >= 0, not ${describe(expected)}`,
    );
  }
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidAppendError("empty_event_list", `an append needs at least one event`);
  }
  const serialized = (events as unknown[]).map((event, index) => serializeEvent(event, index, maxEventBytes));
  const ids = new Set(serialized.map((event) => event.id));
  if (ids.size !== serialized.length) {
    throw new InvalidAppendError("bad_event_id", `event ids within one append must be distinct`);
  }
  return { streamId, expected, events: serialized };
}

function isExpectedRevision(value: unknown): value is ExpectedRevision {
  return (
    value === "any" ||
    value === "no_stream" ||
    value === "stream_exists" ||
    (typeof value === "number" && Number.isSafeInteger(value) && value >= 0)
  );
}

function serializeEvent(event: unknown, index: number, maxEventBytes: number): SerializedEvent {
  const where = `event ${index}`;
  if (typeof event !== "object" || event === null) {
    throw new InvalidAppendError("data_not_json", `${where} must be an object`);
  }
  const { id, type, data, metadata } = event as Partial<EventToAppend>;
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new InvalidAppendError("bad_event_id", `${where}: id must be a UUID, not ${describe(id)}`);
  }
  if (typeof type !== "string" || !EVENT_TYPE.test(type)) {
    throw new InvalidAppendError("bad_event_type", `${where}: type must be a name like "AccountOpened"`);
  }
  if (!isPlainObject(data)) {
    throw new InvalidAppendError("data_not_json", `${where} (${type}): data must be a JSON object`);
  }
  const problem = findNonJson(data, "data");
  if (problem !== undefined) {
    throw new InvalidAppendError("data_not_json", `${where} (${type}): ${problem}`);
  }
  checkMetadata(metadata, where);
  const dataJson = JSON.stringify(data);
  const metadataJson = JSON.stringify(metadata);
  if (UNSTORABLE_ESCAPE.test(dataJson) || UNSTORABLE_ESCAPE.test(metadataJson)) {
    throw new InvalidAppendError(
      "data_not_json",
      `${where} (${type}): text holds a NUL character or a lone UTF-16 surrogate`,
    );
  }
  const bytes = Buffer.byteLength(dataJson) + Buffer.byteLength(metadataJson);
  if (bytes > maxEventBytes) {
    throw new InvalidAppendError(
      "event_too_large",
      `${where} (${type}) is ${bytes} bytes; the limit is ${maxEventBytes}`,
    );
  }
  return { id: id.toLowerCase(), type, dataJson, metadataJson };
}

function checkMetadata(metadata: unknown, where: string): void {
  if (!isPlainObject(metadata)) {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata must be an object`);
  }
  const { correlationId, causationId, traceparent, tracestate, actor } = metadata;
  if (typeof correlationId !== "string" || correlationId === "") {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata.correlationId is required`);
  }
  if (typeof actor !== "string" || actor === "") {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata.actor is required`);
  }
  if (causationId !== undefined && typeof causationId !== "string") {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata.causationId must be a string`);
  }
  if (traceparent !== undefined && (typeof traceparent !== "string" || !TRACEPARENT.test(traceparent))) {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata.traceparent is not W3C traceparent`);
  }
  if (tracestate !== undefined && typeof tracestate !== "string") {
    throw new InvalidAppendError("metadata_invalid", `${where}: metadata.tracestate must be a string`);
  }
  const problem = findNonJson(metadata, "metadata");
  if (problem !== undefined) {
    throw new InvalidAppendError("metadata_invalid", `${where}: ${problem}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The path of the first value JSON cannot carry faithfully, or `undefined` when all can. Runs on
 * every event appended, so it allocates nothing on the way down: a path is spelled out only for
 * the value found, on the way back up.
 */
function findNonJson(value: unknown, path: string): string | undefined {
  const found = nonJsonBelow(value, new Set<object>());
  return found === undefined ? undefined : `${path}${found.path} ${found.problem}`;
}

interface NonJson {
  /** From the value handed in to the one found, e.g. `.items[2].amount`; empty for the value itself. */
  path: string;
  problem: string;
}

function nonJsonBelow(value: unknown, seen: Set<object>): NonJson | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value)
        ? undefined
        : { path: "", problem: `is ${value}, which JSON cannot hold` };
    case "object":
      return value === null ? undefined : nonJsonInside(value, seen);
    case "bigint":
    case "function":
    case "symbol":
    case "undefined":
      return {
        path: "",
        problem: `is ${typeof value === "bigint" ? "a bigint" : typeof value}, which JSON cannot hold`,
      };
  }
}

function nonJsonInside(value: object, seen: Set<object>): NonJson | undefined {
  if (seen.has(value)) return { path: "", problem: "refers back to itself" };
  seen.add(value);
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const found = nonJsonBelow(value[index], seen);
      if (found !== undefined) return { path: `[${index}]${found.path}`, problem: found.problem };
    }
  } else if (isPlainObject(value)) {
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const found = nonJsonBelow(value[key], seen);
      if (found !== undefined) return { path: `.${key}${found.path}`, problem: found.problem };
    }
  } else {
    return { path: "", problem: `is a ${constructorName(value)}, not plain JSON` };
  }
  seen.delete(value);
  return undefined;
}

function constructorName(value: object): string {
  const prototype = Object.getPrototypeOf(value) as { constructor?: unknown } | null;
  const constructor = prototype?.constructor;
  return typeof constructor === "function" && constructor.name !== "" ? constructor.name : "non-plain object";
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
