import { randomFillSync } from "node:crypto";

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
