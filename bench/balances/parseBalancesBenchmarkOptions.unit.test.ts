import test from "ava";
import { UsageError } from "../shared/UsageError.ts";
import { parseBalancesBenchmarkOptions } from "./parseBalancesBenchmarkOptions.ts";

test("without flags: a million rows, the import's own concurrency, one run, with the rebuild and the projector", (t) => {
  t.like(parseBalancesBenchmarkOptions([]), { rows: 1_000_000, runs: 1, rebuild: true, live: true });
});

test("--rebuild and --live take 0 or 1 and nothing else, as a usage error", (t) => {
  t.false(parseBalancesBenchmarkOptions(["--rebuild", "0"]).rebuild);
  t.throws(() => parseBalancesBenchmarkOptions(["--rebuild", "no"]), { instanceOf: UsageError });
  t.false(parseBalancesBenchmarkOptions(["--live", "0"]).live);
  t.throws(() => parseBalancesBenchmarkOptions(["--live", "yes"]), { instanceOf: UsageError });
});

test("a file under a thousand rows or an unknown flag is a usage error", (t) => {
  t.throws(() => parseBalancesBenchmarkOptions(["--rows", "999"]), { instanceOf: UsageError });
  t.throws(() => parseBalancesBenchmarkOptions(["--row", "2000"]), { instanceOf: UsageError });
});

test("every row of the file is pushed one at a time unless a sample is asked for", (t) => {
  t.like(parseBalancesBenchmarkOptions(["--rows", "5000"]), { singlePushRows: 5000, connections: 64 });
  t.like(parseBalancesBenchmarkOptions(["--rows", "5000", "--single-push-rows", "1200"]), {
    singlePushRows: 1200,
  });
  t.is(parseBalancesBenchmarkOptions(["--single-push-rows", "0"]).singlePushRows, 0);
});

test("a single-push sample larger than the file, or no connection, is a usage error", (t) => {
  t.throws(() => parseBalancesBenchmarkOptions(["--rows", "2000", "--single-push-rows", "2001"]), {
    instanceOf: UsageError,
    message: /at most --rows \(2000\)/,
  });
  t.throws(() => parseBalancesBenchmarkOptions(["--single-push-rows", "some"]), { instanceOf: UsageError });
  t.throws(() => parseBalancesBenchmarkOptions(["--connections", "0"]), { instanceOf: UsageError });
});
