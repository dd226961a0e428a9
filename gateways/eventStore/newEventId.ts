import { createHash, randomFillSync } from "node:crypto";

// Random bytes drawn 256 ids at a time: one system call per 256 ids, not one per id.
const pool = Buffer.alloc(16 * 256);
let next = pool.length;

/**
 * A new event id: a UUID version 7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds and whose other 74 free bits are random.
 *
 * Event ids are unique in the log, so the store keeps an index of them; ids that grow with time
 * land at that index's right edge, where random (version 4) ids land on any of its pages. In a
 * log larger than memory that is the difference between appending to a few hot pages and reading
 * a random page from disk for every event. Any UUID remains a valid event id: this is what
 * Tidemark's own writers use.
 */
export function newEventId(now: number = Date.now()): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const id = pool.subarray(next, next + 16);
  next += 16;
  id.writeUIntBE(now, 0, 6);
  id.writeUInt8((id.readUInt8(6) & 0x0f) | 0x70, 6); // version 7
  id.writeUInt8((id.readUInt8(8) & 0x3f) | 0x80, 8); // variant 10 (RFC 9562)
  const hex = id.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A UUID (version 8, RFC 9562) from a SHA-256 of `text`: the same text, the same id. For ids that
 * must come out the same when the same work is done again (a row of a file decided again after a
 * crash, a budget claim of a redelivered request).
 */
export function hashedUuid(text: string): string {
  return uuidOf(Buffer.from(createHash("sha256").update(text).digest().subarray(0, 16)));
}

/**
 * A deterministic event id laid out like `newEventId`'s, so that a batch's events land together
 * at the right edge of the log's index of ids rather than on random pages: the first 48 bits are
 * `startMs` (when the batch began), the next 38 bits (around the version and variant) are
 * `sequence` (its place in the batch, below 2^38), and the last 36 bits come from a SHA-256 of
 * `key`, which names the event whatever batch began in the same millisecond.
 */
export function orderedEventId(startMs: number, sequence: number, key: string): string {
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= 2 ** 38) {
    throw new RangeError(`an ordered event id's sequence is 0 to 2^38 - 1, not ${sequence}`);
  }
  const id = Buffer.from(createHash("sha256").update(key).digest().subarray(0, 16));
  id.writeUIntBE(startMs, 0, 6);
  const high = Math.floor(sequence / 2 ** 26); // 12 bits
  const low = sequence % 2 ** 26; // 26 bits
  id.writeUInt16BE(0x8000 | high, 6); // version 8, then the high bits
  // Variant 10, the low 26 bits, then 4 of the hash's bits; the last 4 bytes stay the hash's.
  id.writeUInt32BE((0x80000000 | (low << 4) | (id.readUInt8(11) & 0x0f)) >>> 0, 8);
  return uuidOf(id);
}

function uuidOf(bytes: Buffer): string {
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x80, 6); // version 8
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8); // variant 10 (RFC 9562)
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
