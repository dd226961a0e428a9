import test from "ava";
import fc from "fast-check";
import { parseInstant, type Instant } from "../values/Instant.ts";
import { localTime, type TimeZone } from "../values/TimeZone.ts";
import { quietHoursEnd } from "./quietHours.ts";

const at = (text: string): Instant =>
  parseInstant(text) ??
  (() => {
    throw new Error(text);
  })();
const london = "Europe/London" as TimeZone;
const night = { start: "21:00", end: "08:00" };

test("given a night window in London: inside it, sending waits for 08:00 local; outside, it may go now", (t) => {
  t.is(
    quietHoursEnd(at("2026-01-15T22:30:00.000Z"), london, night),
    at("2026-01-16T08:00:00.000Z"),
    "winter, GMT",
  );
  t.is(
    quietHoursEnd(at("2026-07-15T22:30:00.000Z"), london, night),
    at("2026-07-16T07:00:00.000Z"),
    "summer, BST",
  );
  t.is(
    quietHoursEnd(at("2026-07-16T06:59:00.000Z"), london, night),
    at("2026-07-16T07:00:00.000Z"),
    "07:59 BST, same morning",
  );
  t.is(quietHoursEnd(at("2026-07-16T07:00:00.000Z"), london, night), undefined, "08:00 BST: allowed");
  t.is(quietHoursEnd(at("2026-07-15T19:59:00.000Z"), london, night), undefined, "20:59 BST: allowed");
  t.is(
    quietHoursEnd(at("2026-07-15T20:00:00.000Z"), london, night),
    at("2026-07-16T07:00:00.000Z"),
    "21:00 BST: quiet",
  );
});

test("across the clock change: the night before British Summer Time ends at 08:00 BST", (t) => {
  // 2026-03-29: clocks go forward at 01:00 GMT.
  t.is(quietHoursEnd(at("2026-03-28T22:00:00.000Z"), london, night), at("2026-03-29T07:00:00.000Z"));
  // 2026-10-25: clocks go back at 02:00 BST.
  t.is(quietHoursEnd(at("2026-10-24T21:00:00.000Z"), london, night), at("2026-10-25T08:00:00.000Z"));
});

test("an end the clocks skip (spring forward in New York): the first instant after the gap, never a moment later still inside", (t) => {
  const newYork = "America/New_York" as TimeZone;
  // 2027-03-14: 02:00 EST jumps to 03:00 EDT (07:00Z); a window ending at 02:30 ends at the jump.
  const quiet = { start: "21:00", end: "02:30" };
  const ends = quietHoursEnd(at("2027-03-14T06:58:54.454Z"), newYork, quiet);
  t.is(ends, at("2027-03-14T07:00:00.000Z"));
  t.is(quietHoursEnd(ends as Instant, newYork, quiet), undefined, "03:00 EDT: sending is allowed");
});

test("a window within one day, another zone, and an empty window", (t) => {
  const lunch = { start: "12:00", end: "14:00" };
  const newYork = "America/New_York" as TimeZone;
  t.is(
    quietHoursEnd(at("2026-05-04T16:30:00.000Z"), newYork, lunch),
    at("2026-05-04T18:00:00.000Z"),
    "12:30 EDT",
  );
  t.is(quietHoursEnd(at("2026-05-04T18:00:00.000Z"), newYork, lunch), undefined, "14:00 EDT");
  t.is(quietHoursEnd(at("2026-05-04T16:30:00.000Z"), newYork, { start: "08:00", end: "08:00" }), undefined);
});

test("property: inside a window the end is later and allowed; outside, the local time is outside the window", (t) => {
  const zones = [
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "UTC",
  ];
  const hhmm = fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
    .map(([hour, minute]) => `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`);
  fc.assert(
    fc.property(
      fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
      fc.constantFrom(...zones),
      hhmm,
      hhmm,
      (ms, zoneName, start, end) => {
        const zone = zoneName as TimeZone;
        const when = new Date(ms).toISOString() as Instant;
        const ends = quietHoursEnd(when, zone, { start, end });
        const minutes = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3));
        const local = localTime(ms, zone);
        const now = local.hour * 60 + local.minute;
        const [s, e] = [minutes(start), minutes(end)];
        const inside = s === e ? false : s > e ? now >= s || now < e : now >= s && now < e;
        t.is(ends !== undefined, inside);
        if (ends !== undefined) {
          t.true(ends > when, "the end comes later");
          t.true(Date.parse(ends) - ms <= 26 * 3_600_000, "within a day (and a clock change)");
          t.is(quietHoursEnd(ends, zone, { start, end }), undefined, "at the end, sending is allowed");
        }
      },
    ),
    { numRuns: 500 },
  );
});
