/**
 * A place in the global event log: opaque to callers, totally ordered, and comparable as a plain
 * string (fixed-width hex of two unsigned 63-bit numbers), so it can travel in headers and URLs.
 * Each adapter decides what the two numbers mean (PostgreSQL: transaction id and sequence;
 * EventStoreDB: commit and prepare position).
 */
export type Position = string & { readonly __brand: "Position" };

const WIDTH = 16;
const POSITION_PATTERN = /^[0-9a-f]{16}-[0-9a-f]{16}$/;
const MAX = (1n << 63n) - 1n;

/** The position before every event: reading or subscribing from it starts at the first event. */
export const START = positionOf(0n, 0n);

/** Builds a position from its two adapter-defined components. */
export function positionOf(major: bigint, minor: bigint): Position {
  if (major < 0n || minor < 0n || major > MAX || minor > MAX) {
    throw new RangeError(`position components out of range: ${major}, ${minor}`);
  }
  return `${major.toString(16).padStart(WIDTH, "0")}-${minor.toString(16).padStart(WIDTH, "0")}` as Position;
}

/** The two components of a position, for the adapter that made it. */
export function positionParts(position: Position): readonly [major: bigint, minor: bigint] {
  const [major = "0", minor = "0"] = position.split("-");
  return [BigInt(`0x${major}`), BigInt(`0x${minor}`)];
}

/** Validates untrusted text (a header, a checkpoint row) as a position; `undefined` when it is not one. */
export function parsePosition(text: string): Position | undefined {
  return POSITION_PATTERN.test(text) ? (text as Position) : undefined;
}

/** Negative when `a` comes before `b`, zero when equal, positive after. */
export function comparePositions(a: Position, b: Position): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
