import test from "ava";
import fc from "fast-check";
import { addMilliseconds, epochMsToInstant, instantToEpochMs, parseInstant } from "./Instant.ts";

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
