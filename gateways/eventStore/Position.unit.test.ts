import test from "ava";
import { START, comparePositions, parsePosition, positionOf, positionParts } from "./Position.ts";

test("positions compare as strings in the order of their components", (t) => {
  const ordered = [
    START,
    positionOf(0n, 5n),
    positionOf(1n, 0n),
    positionOf(1n, 2n ** 40n),
    positionOf(2n ** 62n, 1n),
  ];
  for (let index = 1; index < ordered.length; index += 1) {
    t.true(comparePositions(ordered[index - 1]!, ordered[index]!) < 0);
    t.true(ordered[index - 1]! < ordered[index]!);
  }
  t.is(comparePositions(positionOf(7n, 8n), positionOf(7n, 8n)), 0);
});

test("a position round-trips through its parts and its text", (t) => {
  const position = positionOf(123_456_789n, 42n);
  t.deepEqual(positionParts(position), [123_456_789n, 42n]);
  t.is(parsePosition(position), position);
});

test("untrusted text that is not a position is refused", (t) => {
  for (const text of [
    "",
    "12-34",
    "zzzzzzzzzzzzzzzz-0000000000000000",
    `${START} `,
    "0000000000000000_0000000000000000",
  ]) {
    t.is(parsePosition(text), undefined, text);
  }
  t.throws(() => positionOf(-1n, 0n), { instanceOf: RangeError });
  t.throws(() => positionOf(0n, 2n ** 63n), { instanceOf: RangeError });
});
