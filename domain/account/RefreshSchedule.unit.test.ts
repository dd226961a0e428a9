import test from "ava";
import fc from "fast-check";
import { firstRefreshDue, nextRefreshDue, refreshPhaseMs, type RefreshSchedule } from "./RefreshSchedule.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const schedule: RefreshSchedule = { periodMs: 6 * HOUR, firstDelayMs: 6 * HOUR };
const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);

test("an account's first refresh comes at least the first delay after it joins, and within one period more", (t) => {
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 4_000_000_000_000 }), (accountId, joinedAt) => {
      const due = firstRefreshDue(accountId, joinedAt, schedule);
      return (
        due >= joinedAt + schedule.firstDelayMs && due < joinedAt + schedule.firstDelayMs + schedule.periodMs
      );
    }),
  );
  t.pass();
});

test("a first delay shorter than the period is honoured: the first refresh comes no sooner", (t) => {
  const short = { periodMs: 6 * HOUR, firstDelayMs: 10 * MINUTE };
  const due = firstRefreshDue("acc-1", T0, short);
  t.true(due >= T0 + 10 * MINUTE && due < T0 + 10 * MINUTE + 6 * HOUR);
});

test("after a refresh the next comes a period later on the account's own phase, however late the tick ran", (t) => {
  const first = firstRefreshDue("acc-1", T0, schedule);
  t.is(nextRefreshDue("acc-1", first, schedule), first + schedule.periodMs);
  t.is(nextRefreshDue("acc-1", first + 30_000, schedule), first + schedule.periodMs, "a tick 30 s late");
  // A scheduler down for most of a period: no second refresh moments after the late one.
  t.is(nextRefreshDue("acc-1", first + 5 * HOUR, schedule), first + 2 * schedule.periodMs);
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 4_000_000_000_000 }), (accountId, servedAt) => {
      const next = nextRefreshDue(accountId, servedAt, schedule);
      return (
        next >= servedAt + schedule.periodMs / 2 &&
        next < servedAt + 1.5 * schedule.periodMs &&
        (next - refreshPhaseMs(accountId, schedule.periodMs)) % schedule.periodMs === 0
      );
    }),
  );
});

test("the phase is the account's own, the same on every run: a restart does not move anyone's refresh", (t) => {
  // Pinned: a drifting hash would move every account's refresh at a deploy.
  t.is(refreshPhaseMs("acc-1", schedule.periodMs), 12_213_426);
  t.not(refreshPhaseMs("acc-1", schedule.periodMs), refreshPhaseMs("acc-2", schedule.periodMs));
});

test("200,000 accounts opened in the same minute come due spread over the period, not in one minute", (t) => {
  const perMinute = new Map<number, number>();
  const accounts = 200_000;
  for (let index = 0; index < accounts; index += 1) {
    const due = firstRefreshDue(`acc-${index}`, T0, schedule);
    const minute = Math.floor(due / MINUTE);
    perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
  }
  const minutes = schedule.periodMs / MINUTE;
  const fair = accounts / minutes;
  t.is(perMinute.size, minutes, "every minute of the period has some");
  t.true(
    Math.max(...perMinute.values()) < fair * 1.5,
    `at most half again the fair share of ${fair} a minute`,
  );
});
