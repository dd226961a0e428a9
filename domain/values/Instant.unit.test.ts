import test from "ava";
import fc from "fast-check";
import {
  addMilliseconds,
  civilToEpochMs,
  epochMsToInstant,
  instantToEpochMs,
  parseInstant,
} from "./Instant.ts";

test("instants convert exactly as Date does, for any time from 1970 to 2200", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 7_258_118_400_000 }), (ms) => {
      const iso = new Date(ms).toISOString();
      return (
        epochMsToInstant(ms) === iso && instantToEpochMs(iso as never) === ms && parseInstant(iso) === iso
      );
    }),
  );
  t.pass();
});

test("only canonical UTC text is an instant", (t) => {
  for (const text of [
    "2026-02-30T00:00:00.000Z",
    "2026-11-24T05:00:00Z",
    "2026-11-24T05:00:00.000+01:00",
    "yesterday",
  ]) {
    t.is(parseInstant(text), undefined, text);
  }
  const next: string = addMilliseconds(parseInstant("2026-12-31T23:59:59.999Z")!, 1);
  t.is(next, "2027-01-01T00:00:00.000Z");
});

test("civilToEpochMs agrees with the canonical text for every date, and rolls a day past the month's end over", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 7_258_118_400_000 }), (ms) => {
      const floored = Math.floor(ms / 1000) * 1000;
      const [date, time] = epochMsToInstant(floored).split("T") as [string, string];
      const [year, month, day] = date.split("-").map(Number) as [number, number, number];
      const [hour, minute, second] = time.slice(0, 8).split(":").map(Number) as [number, number, number];
      t.is(civilToEpochMs(year, month, day, hour, minute, second), floored);
    }),
  );
  t.is(String(epochMsToInstant(civilToEpochMs(2026, 2, 29))), "2026-03-01T00:00:00.000Z");
  t.is(String(epochMsToInstant(civilToEpochMs(2026, 12, 32, 8))), "2027-01-01T08:00:00.000Z");
});

test("property: text one character away from an instant is one exactly when Date reads it back as itself", (t) => {
  const byDate = (text: string) => {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text)) return false;
    const date = new Date(text);
    return !Number.isNaN(date.getTime()) && date.toISOString() === text;
  };
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }),
      fc.nat(23),
      fc.constantFrom("0", "1", "2", "5", "9", "-", "T", ":", ".", "Z", " ", "/", "x"),
      (ms, position, character) => {
        const text = new Date(ms).toISOString();
        const changed = text.slice(0, position) + character + text.slice(position + 1);
        return (parseInstant(changed) !== undefined) === byDate(changed);
      },
    ),
    { numRuns: 20_000 },
  );
  t.is(String(parseInstant("2024-02-29T00:00:00.000Z")), "2024-02-29T00:00:00.000Z");
  t.is(parseInstant("2023-02-29T00:00:00.000Z"), undefined);
  t.is(parseInstant("2100-02-29T00:00:00.000Z"), undefined);
  t.is(String(parseInstant("2000-02-29T00:00:00.000Z")), "2000-02-29T00:00:00.000Z");
});
