import test from "ava";
import { parseObDateTime } from "./parseObDateTime.ts";

const utc = (text: string): string | undefined => parseObDateTime(text);

test("a DateTime with a zone becomes the UTC instant it names", (t) => {
  t.is(utc("2026-11-24T09:00:00Z"), "2026-11-24T09:00:00.000Z");
  t.is(utc("2026-11-24T09:00:00+00:00"), "2026-11-24T09:00:00.000Z");
  t.is(utc("2026-11-24T10:00:00+01:00"), "2026-11-24T09:00:00.000Z");
  t.is(utc("2026-11-24T04:30:00.25-04:30"), "2026-11-24T09:00:00.250Z");
  t.is(utc("2026-11-24T00:30:00+01:00"), "2026-11-23T23:30:00.000Z");
  t.is(utc("2026-11-24T09:00:00.123456789Z"), "2026-11-24T09:00:00.123Z");
});

test("a DateTime without a zone is refused, never read in the process's own zone", (t) => {
  t.is(utc("2026-11-24T09:00:00"), undefined);
  t.is(utc("2026-11-24T09:00:00.000"), undefined);
});

test("anything else that is not an ISO 8601 date-time is refused", (t) => {
  for (const text of [
    "2026-11-24",
    "2026-02-30T09:00:00Z",
    "2026-11-24T24:00:00Z",
    "2026-11-24 09:00:00Z",
    "2026-11-24T09:00:00+0100x",
    "Tue, 24 Nov 2026 09:00:00 GMT",
    "1732438800",
  ]) {
    t.is(utc(text), undefined, text);
  }
});
