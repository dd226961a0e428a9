import test from "ava";
import { summarizeTimings } from "./summarizeTimings.ts";

test("the median of an even number of runs is the mean of the middle two", (t) => {
  t.is(summarizeTimings([40, 10, 30, 20]).median, 25);
  t.is(summarizeTimings([30, 10, 20]).median, 20);
});

test("p95 is the nearest rank: the 19th of 20 runs, the slowest of fewer", (t) => {
  const twenty = Array.from({ length: 20 }, (_, index) => index + 1);
  t.like(summarizeTimings(twenty), { runs: 20, p95: 19, min: 1, max: 20 });
  t.is(summarizeTimings([5, 1, 3]).p95, 5);
});

test("no runs give no numbers rather than zeros", (t) => {
  const summary = summarizeTimings([]);
  t.true(Number.isNaN(summary.median));
  t.true(Number.isNaN(summary.p95));
});
