import test from "ava";
import { loadRules } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import {
  runBacktest,
  type BacktestReport,
  type BacktestRequest,
} from "../projections/backtest/runBacktest.ts";
import { generateEventLog } from "../test/generateEventLog.ts";
import { openTestEventStore, TEST_DATABASE_URL } from "../test/postgresTestDatabase.ts";
import { backtestThreadsFor } from "./backtestThreadsFor.ts";

/** A report without its timing: what two replays of the same log must agree on. */
const found = (report: BacktestReport): Omit<BacktestReport, "seconds" | "balancesPerSecond"> => {
  const { seconds, balancesPerSecond, ...rest } = report;
  return seconds >= 0 && balancesPerSecond >= 0 ? rest : report;
};

test("a backtest on threads, each replaying a part of the log, finds exactly what one replay in this thread finds; a thread that fails or an abort stops it with the reason", async (t) => {
  const { store, database, dispose } = await openTestEventStore();
  t.teardown(() => dispose());
  const shipped = await loadRules();
  await generateEventLog(store, { accounts: 120, events: 12_000, seed: 5, stepMs: 1_200_000 }, shipped);
  // Raised, with quiet hours and the cooldown: qualifications, deferrals and suppressions to count.
  const candidate = shipped.map((rule): Rule =>
    rule.id === "low-balance" && rule.kind === "below"
      ? {
          ...rule,
          version: rule.version + 1,
          quietHours: { start: "21:00", end: "08:00" },
          threshold: { ...rule.threshold, minor: rule.threshold.minor * 2n },
          rearmAbove: { ...rule.rearmAbove, minor: rule.rearmAbove.minor * 2n },
        }
      : rule,
  );
  const request: BacktestRequest = {
    rules: candidate,
    actualRules: shipped,
    templates: await loadTemplates(),
    fromMs: Date.parse("2026-11-01T18:00:00Z"),
    toMs: Date.parse("2026-12-01T00:00:00Z"),
    sampleSize: 5,
  };
  const threads = (count: number, schema = database.schema) =>
    backtestThreadsFor({ databaseUrl: TEST_DATABASE_URL, schema }, count);
  const whole = await runBacktest(store, request);
  t.true(
    whole.totals.candidate.deferred > 0 && whole.totals.candidate.sent > 0,
    "the log exercises deferrals",
  );
  t.true(whole.gains.length > 0);
  for (const count of [2, 3]) {
    const progress: number[] = [];
    const inParts = await runBacktest(store, {
      ...request,
      threads: threads(count),
      onProgress: (balances) => progress.push(balances),
    });
    t.deepEqual(found(inParts), found(whole), `${count} threads`);
    t.is(progress.at(-1), whole.balancesReplayed, "progress adds up the parts");
  }

  await t.throwsAsync(runBacktest(store, { ...request, threads: threads(2, "no_such_schema") }), {
    message: /no_such_schema.*does not exist|does not exist/,
  });
  const stop = new AbortController();
  await t.throwsAsync(
    runBacktest(store, {
      ...request,
      threads: threads(2),
      signal: stop.signal,
      onProgress: () => stop.abort(new Error("stopped by the test")),
    }),
    { message: "stopped by the test" },
  );
  t.is(
    database.pool.idleCount,
    database.pool.totalCount,
    "the shared snapshot's connection is back in the pool",
  );
  t.deepEqual(found(await runBacktest(store, { ...request, threads: threads(2) })), found(whole));
});
