import test from "ava";
import { UsageError } from "../shared/UsageError.ts";
import { parseBalancesBenchmarkOptions } from "./parseBalancesBenchmarkOptions.ts";

test("without flags: a million rows, the import's own concurrency, one run, with the rebuild", (t) => {
  t.like(parseBalancesBenchmarkOptions([]), { rows: 1_000_000, runs: 1, rebuild: true });
});

test("--rebuild takes 0 or 1 and nothing else, as a usage error", (t) => {
  t.false(parseBalancesBenchmarkOptions(["--rebuild", "0"]).rebuild);
  t.throws(() => parseBalancesBenchmarkOptions(["--rebuild", "no"]), { instanceOf: UsageError });
});

test("a file under a thousand rows or an unknown flag is a usage error", (t) => {
  t.throws(() => parseBalancesBenchmarkOptions(["--rows", "999"]), { instanceOf: UsageError });
  t.throws(() => parseBalancesBenchmarkOptions(["--row", "2000"]), { instanceOf: UsageError });
});
