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
