import test from "ava";
import fc from "fast-check";
import { RequestPacer } from "./RequestPacer.ts";

/** A clock that moves only when someone sleeps: each take's start and slot, exactly. */
function pacedBy(perSecond: number) {
  let now = 0;
  const pacer = new RequestPacer(perSecond, {
    clock: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  });
  return { pacer, now: () => now, wait: (ms: number) => (now += ms) };
}

test("calls are spaced one interval apart in the order they ask, never faster than the pace", async (t) => {
  const { pacer, now, wait } = pacedBy(10);
  const slots: number[] = [];
  for (let call = 0; call < 5; call += 1) {
    t.true(await pacer.take(Number.POSITIVE_INFINITY));
    slots.push(now());
  }
  t.deepEqual(slots, [0, 100, 200, 300, 400]);
  wait(1000); // idle: no burst is saved up while nobody calls
  t.true(await pacer.take(0));
  t.true(await pacer.take(100));
  t.deepEqual([now()], [1500]);
});

test("a call whose slot is further away than it can wait takes no slot and is told at once", async (t) => {
  const { pacer, now } = pacedBy(4); // 250 ms apart
  t.true(await pacer.take(0));
  t.false(await pacer.take(249), "its slot is 250 ms away");
  t.is(now(), 0, "it did not wait");
  t.true(await pacer.take(250), "the slot it did not take is the next caller's");
  t.is(now(), 250);
});

test("property: however calls come, no two slots given are closer than the interval", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 500 }),
      fc.array(fc.record({ idle: fc.nat(2000), maxWait: fc.nat(3000) }), { maxLength: 40 }),
      async (perSecond, calls) => {
        const { pacer, now, wait } = pacedBy(perSecond);
        const given: number[] = [];
        for (const { idle, maxWait } of calls) {
          wait(idle);
          const asked = now();
          if (await pacer.take(maxWait)) {
            t.true(now() - asked <= maxWait);
            given.push(now());
          }
        }
        return given.every(
          (slot, index) => index === 0 || slot - (given[index - 1] ?? 0) >= 1000 / perSecond - 1e-9,
        );
      },
    ),
  );
  t.throws(() => new RequestPacer(0), { instanceOf: RangeError });
  t.throws(() => new RequestPacer(Number.NaN), { instanceOf: RangeError });
});

type Lane = "service" | "marketing";

/**
 * Fake time for calls that arrive while others wait: sleeps are timers on a fake clock, fired in
 * order by `advanceTo`, with the promises they settle run before the clock moves on.
 */
function fakeTime() {
  let now = 0;
  const timers: { at: number; fire: () => void }[] = [];
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    clock: () => now,
    sleep: (ms: number) => new Promise<void>((fire) => timers.push({ at: now + ms, fire })),
    async advanceTo(at: number) {
      for (;;) {
        await settle();
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (next === undefined || next.at > at) break;
        timers.shift();
        now = Math.max(now, next.at);
        next.fire();
      }
      now = Math.max(now, at);
      await settle();
    },
  };
}

interface Call {
  readonly id: number;
  readonly lane: Lane;
  readonly askedAt: number;
  startedAt?: number;
}

/** Every call asked at its time in its lane, with no deadline; returns them with their start times and the start order. */
async function paceCalls(perSecond: number, arrivals: readonly { at: number; lane: Lane }[]) {
  const time = fakeTime();
  const pacer = new RequestPacer<Lane>(perSecond, { ...time, lanes: ["service", "marketing"] });
  const calls: Call[] = [...arrivals]
    .sort((a, b) => a.at - b.at)
    .map((arrival, id) => ({ id, lane: arrival.lane, askedAt: arrival.at }));
  const started: Call[] = [];
  for (const call of calls) {
    await time.advanceTo(call.askedAt);
    void pacer.take(Number.POSITIVE_INFINITY, { lane: call.lane }).then((granted) => {
      if (!granted) throw new Error("a call with no deadline was refused");
      call.startedAt = time.clock();
      started.push(call);
    });
  }
  await time.advanceTo((calls.at(-1)?.askedAt ?? 0) + ((calls.length + 1) * 1000) / perSecond + 1);
  return { calls, started };
}

const EPSILON_MS = 1e-6; // the interval is 1000 / perSecond in floating point

test("a waiting service call takes the next slot before marketing calls that asked earlier; each lane in order", async (t) => {
  const { started } = await paceCalls(10, [
    { at: 0, lane: "marketing" },
    { at: 1, lane: "marketing" },
    { at: 2, lane: "marketing" },
    { at: 50, lane: "service" },
    { at: 60, lane: "service" },
  ]);
  t.deepEqual(
    started.map((call) => [call.id, call.startedAt]),
    [
      [0, 0],
      [3, 100],
      [4, 200],
      [1, 300],
      [2, 400],
    ],
  );
});

test("a provider's Retry-After holds every slot back; an aborted call leaves its lane to the next", async (t) => {
  const time = fakeTime();
  const pacer = new RequestPacer<Lane>(10, { ...time, lanes: ["service", "marketing"] });
  t.true(await pacer.take(0));
  pacer.holdFor(500);
  const startedAt: Record<string, number> = {};
  const abort = new AbortController();
  const gone = pacer.take(Number.POSITIVE_INFINITY, { lane: "service", signal: abort.signal });
  void pacer
    .take(Number.POSITIVE_INFINITY, { lane: "marketing" })
    .then(() => (startedAt.marketing = time.clock()));
  abort.abort(new Error("stopped"));
  await t.throwsAsync(gone, { message: "stopped" });
  t.false(
    await pacer.take(499, { lane: "marketing" }),
    "its slot would be after the hold and the one waiting",
  );
  await time.advanceTo(2000);
  t.deepEqual(startedAt, { marketing: 500 });
});

test("property: calls in two lanes: none lost, none early, no slot wasted, service first, each lane in order", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 60 }),
      fc.array(fc.record({ at: fc.nat(3000), lane: fc.constantFrom<Lane>("service", "marketing") }), {
        maxLength: 60,
      }),
      async (perSecond, arrivals) => {
        const interval = 1000 / perSecond;
        const { calls, started } = await paceCalls(perSecond, arrivals);
        // None lost, none started twice.
        t.is(new Set(started.map((call) => call.id)).size, calls.length);
        t.is(started.length, calls.length);
        started.forEach((call, index) => {
          const startedAt = call.startedAt ?? Number.NaN;
          const previous = started[index - 1]?.startedAt ?? Number.NEGATIVE_INFINITY;
          // Never early: no window of one second holds more than perSecond starts.
          const windowOpen = started[index - perSecond]?.startedAt;
          if (windowOpen !== undefined) t.true(startedAt - windowOpen >= 1000 - EPSILON_MS);
          // No slot wasted: each starts as soon as it asked or the slot after the last start.
          t.true(Math.abs(startedAt - Math.max(call.askedAt, previous + interval)) < EPSILON_MS);
          for (const other of started.slice(index + 1)) {
            // Each lane in the order it asked.
            if (other.lane === call.lane) t.true(other.id > call.id);
            // A marketing call never starts while a service call that asked before it waits.
            if (call.lane === "marketing" && other.lane === "service") t.true(other.askedAt >= startedAt);
          }
        });
      },
    ),
    { numRuns: 200 },
  );
});
