import test from "ava";
import type { BalancesRunResult } from "./BalancesRunResult.ts";
import { formatBalancesReport } from "./formatBalancesReport.ts";
import { parseBalancesBenchmarkOptions } from "./parseBalancesBenchmarkOptions.ts";

// 10,000 rows: imported in 2 s (5,000/s), copied in 0.1 s (100,000/s); 1,000 pushed in 1 s.
const run: BalancesRunResult = {
  importSeconds: 2,
  importPeakRssMb: 300,
  copySeconds: 0.1,
  events: 20_500,
  rebuild: undefined,
  singlePush: { rows: 1000, seconds: 1, serverReadyRssMb: 140, serverPeakRssMb: 200 },
  live: undefined,
};

test("a single push of the file's first rows is called a sample, and compared by rate", (t) => {
  const options = parseBalancesBenchmarkOptions(["--rows", "10000", "--single-push-rows", "1000"]);
  const report = formatBalancesReport(options, [run]);
  t.regex(report, /\*\*a sample\*\*: the same file's first 1,000 of 10,000 rows/);
  t.regex(report, /\| single push \(balances\/s\) \| 1,000 \|/);
  t.regex(report, /\| import \/ single push \(balances\/s\) \| 5\.0× \|/);
  t.regex(report, /\| import \/ COPY \(time\) \| 20\.0× \|/);
  t.regex(report, /\| single push \/ COPY \(time a row\) \| 100\.0× \|/);
  t.regex(report, /\| peak RSS of the command API process \(MB\) \| 200 \|/);
});

test("every row pushed is no sample; no single push says so instead of ratios", (t) => {
  const everyRow = {
    ...run,
    singlePush: { rows: 10_000, seconds: 10, serverReadyRssMb: 140, serverPeakRssMb: 200 },
  };
  const all = formatBalancesReport(parseBalancesBenchmarkOptions(["--rows", "10000"]), [everyRow]);
  t.regex(all, /every row of the same file \(10,000\)/);
  t.notRegex(all, /sample/);
  const none = formatBalancesReport(parseBalancesBenchmarkOptions(["--single-push-rows", "0"]), [
    { ...run, singlePush: undefined },
  ]);
  t.regex(none, /\| single push \| not run \(`--single-push-rows 0`\) \| \|/);
  t.notRegex(none, /import \/ single push/);
});

test("the import with the projector following gives the goal's figure; without it the report says so", (t) => {
  const options = parseBalancesBenchmarkOptions(["--rows", "10000", "--single-push-rows", "0"]);
  const followed = formatBalancesReport(options, [
    { ...run, live: { recordedSeconds: 2.5, currentSeconds: 3.25, peakRssMb: 310 } },
    { ...run, live: { recordedSeconds: 2.25, currentSeconds: 4, peakRssMb: 320 } },
  ]);
  t.regex(
    followed,
    /\| with the projector following: every balance recorded \(s\) \| 2\.4 \| 2\.5 · 2\.3 \|/,
  );
  t.regex(followed, /every read model current \(s\)\*\* \| \*\*3\.6\*\* \| 3\.3 · 4\.0 \|/);
  const without = formatBalancesReport(options, [run]);
  t.regex(without, /every read model current \(s\) \| not run \(`--live 0`\) \| \|/);
});
