import test from "ava";
import { smsSegments } from "./smsSegments.ts";

test("plain text is GSM-7: 160 characters in one segment, 153 per part beyond", (t) => {
  t.deepEqual(smsSegments("a".repeat(160)), { encoding: "GSM-7", units: 160, segments: 1 });
  t.deepEqual(smsSegments("a".repeat(161)), { encoding: "GSM-7", units: 161, segments: 2 });
  t.deepEqual(smsSegments("a".repeat(306)), { encoding: "GSM-7", units: 306, segments: 2 });
  t.deepEqual(smsSegments("a".repeat(307)), { encoding: "GSM-7", units: 307, segments: 3 });
});

test("the GSM default alphabet includes £, accented letters and Greek capitals", (t) => {
  t.like(smsSegments("Balance £42.10 – no"), { encoding: "UCS-2" });
  t.like(smsSegments("Balance £42.10, café, Ñ, Δ Ω, ¿¡ @ §\r\n"), { encoding: "GSM-7", segments: 1 });
});

test("extension characters count double in GSM-7 and an escape pair is never split", (t) => {
  t.deepEqual(smsSegments("€".repeat(80)), { encoding: "GSM-7", units: 160, segments: 1 });
  t.deepEqual(smsSegments("€".repeat(81)), { encoding: "GSM-7", units: 162, segments: 2 });
  t.deepEqual(smsSegments("[]{}^~|\\\f"), { encoding: "GSM-7", units: 18, segments: 1 });
  // 152 septets, then a two-septet "€" that does not fit the first 153-septet part.
  t.deepEqual(smsSegments(`${"a".repeat(152)}€${"a".repeat(10)}`), {
    encoding: "GSM-7",
    units: 164,
    segments: 2,
  });
  t.deepEqual(smsSegments(`${"a".repeat(152)}€${"a".repeat(152)}`), {
    encoding: "GSM-7",
    units: 306,
    segments: 3,
  });
});

test("one character outside GSM-7 makes the whole message UCS-2: 70 units, 67 per part", (t) => {
  t.deepEqual(smsSegments("ł".repeat(70)), { encoding: "UCS-2", units: 70, segments: 1 });
  t.deepEqual(smsSegments(`${"a".repeat(70)}ł`), { encoding: "UCS-2", units: 71, segments: 2 });
  t.deepEqual(smsSegments("x".repeat(133) + "ł"), { encoding: "UCS-2", units: 134, segments: 2 });
  t.deepEqual(smsSegments("x".repeat(134) + "ł"), { encoding: "UCS-2", units: 135, segments: 3 });
});

test("an emoji is two UCS-2 units and its surrogate pair is never split", (t) => {
  t.deepEqual(smsSegments("😀".repeat(35)), { encoding: "UCS-2", units: 70, segments: 1 });
  // 66 units, then a two-unit emoji that does not fit the first 67-unit part.
  t.deepEqual(smsSegments(`${"a".repeat(66)}😀${"a".repeat(5)}`), {
    encoding: "UCS-2",
    units: 73,
    segments: 2,
  });
});

test("an empty body is no segments", (t) => {
  t.deepEqual(smsSegments(""), { encoding: "GSM-7", units: 0, segments: 0 });
});
