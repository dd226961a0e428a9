import test from "ava";
import fc from "fast-check";
import { hashedUuid, newEventId, orderedEventId } from "./newEventId.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("an event id is a UUID version 7 whose first 48 bits are the time in milliseconds", (t) => {
  const now = Date.UTC(2026, 11, 6, 22, 30);
  const id = newEventId(now);
  t.regex(id, UUID_V7);
  t.is(Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16), now);
});

test("event ids sort in the order of their times, and never repeat", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 48 - 2 }),
      fc.integer({ min: 1, max: 10_000 }),
      (earlier, step) => {
        const first = newEventId(earlier);
        const second = newEventId(Math.min(earlier + step, 2 ** 48 - 1));
        return first < second && UUID_V7.test(first) && UUID_V7.test(second);
      },
    ),
  );
  const ids = new Set(Array.from({ length: 100_000 }, () => newEventId(0)));
  t.is(ids.size, 100_000);
});

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("hashed ids: the same text, the same UUID (version 8); other texts, other ids", (t) => {
  t.regex(hashedUuid("a"), UUID_V8);
  t.is(hashedUuid("a"), hashedUuid("a"));
  t.not(hashedUuid("a"), hashedUuid("b"));
});

test("ordered ids: the same (start, place, key), the same UUID v8; a batch's ids sort by their place, after the batch's start", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      fc.integer({ min: 0, max: 2 ** 38 - 2 }),
      fc.integer({ min: 1, max: 2 ** 20 }),
      (start, place, step) => {
        const first = orderedEventId(start, place, `k:${place}`);
        const later = orderedEventId(start, Math.min(place + step, 2 ** 38 - 1), `k:${place + step}`);
        return (
          UUID_V8.test(first) &&
          first === orderedEventId(start, place, `k:${place}`) &&
          first < later &&
          Number.parseInt(first.replaceAll("-", "").slice(0, 12), 16) === start
        );
      },
    ),
  );
  t.not(
    orderedEventId(0, 1, "batch-a"),
    orderedEventId(0, 1, "batch-b"),
    "the key tells batches begun at once apart",
  );
  t.throws(() => orderedEventId(0, 2 ** 38, "k"), { instanceOf: RangeError });
});
