import { crc32 } from "node:zlib";
import type { JsonObject, RecordedEvent } from "../eventStore/EventStore.ts";
import { parsePosition, type Position } from "../eventStore/Position.ts";

/** One event as an archive line holds it: everything the store recorded, position included. */
export interface ArchivedEvent {
  readonly position: Position;
  readonly streamId: string;
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly data: JsonObject;
  readonly metadata: JsonObject;
  /** ISO 8601, UTC, milliseconds (what the store hands out). */
  readonly recordedAt: string;
}

// Every line starts with its own CRC-32 over the rest of the event's JSON, so that a corrupted
// file is refused naming the line, not only the file (its SHA-256 in the manifest says "somewhere").
const CRC_PREFIX = '{"crc":"';
const CRC_HEAD = CRC_PREFIX.length + 8 + 2; // {"crc":"xxxxxxxx",

/** The archive line of an event (without the newline): NDJSON, one object per line. */
export function archiveLine(event: RecordedEvent): string {
  const json = JSON.stringify({
    position: event.position,
    streamId: event.streamId,
    revision: event.revision,
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt.toISOString(),
  });
  return `${CRC_PREFIX}${crc32(json).toString(16).padStart(8, "0")}",${json.slice(1)}`;
}

/** The event on an archive line, or why the line is not one. */
export function parseArchiveLine(line: string): ArchivedEvent | { readonly problem: string } {
  if (!line.startsWith(CRC_PREFIX) || line.length < CRC_HEAD + 1) return { problem: "not an archive line" };
  const json = `{${line.slice(CRC_HEAD)}`;
  const expected = line.slice(CRC_PREFIX.length, CRC_PREFIX.length + 8);
  if (crc32(json).toString(16).padStart(8, "0") !== expected) {
    return { problem: "checksum mismatch (the line was altered or cut short)" };
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { problem: "not JSON" };
  }
  const event = value as Record<string, unknown>;
  const position = typeof event.position === "string" ? parsePosition(event.position) : undefined;
  if (position === undefined) return { problem: "position missing or malformed" };
  if (typeof event.streamId !== "string" || event.streamId === "") return { problem: "streamId missing" };
  if (!Number.isSafeInteger(event.revision) || (event.revision as number) < 0) {
    return { problem: "revision is not a whole number ≥ 0" };
  }
  if (typeof event.id !== "string" || !UUID.test(event.id)) return { problem: "id is not a UUID" };
  if (typeof event.type !== "string" || event.type === "") return { problem: "type missing" };
  if (!isObject(event.data)) return { problem: "data is not an object" };
  if (!isObject(event.metadata)) return { problem: "metadata is not an object" };
  if (typeof event.recordedAt !== "string" || Number.isNaN(Date.parse(event.recordedAt))) {
    return { problem: "recordedAt is not a time" };
  }
  return {
    position,
    streamId: event.streamId,
    revision: event.revision as number,
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
