import test from "ava";
import fc from "fast-check";
import { MicroBatcher } from "./MicroBatcher.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

test("appends submitted in one tick leave together as one batch", async (t) => {
  const batches: number[][] = [];
  const batcher = new MicroBatcher<number, string>(
    (requests) => {
      batches.push([...requests]);
      return Promise.resolve(requests.map((request) => `ok ${request}`));
    },
    2,
    100,
  );
  const answers = await Promise.all([1, 2, 3].map((request) => batcher.submit(request)));
  t.deepEqual(answers, ["ok 1", "ok 2", "ok 3"]);
  t.deepEqual(batches, [[1, 2, 3]]);
});

test("while every slot is busy, later appends wait and then leave together, at most maxBatchSize at once", async (t) => {
  const batches: number[][] = [];
  const release = deferred<undefined>();
  const batcher = new MicroBatcher<number, number>(
    async (requests) => {
      batches.push([...requests]);
      if (batches.length === 1) await release.promise;
      return requests;
    },
    1,
    2,
  );
  const first = batcher.submit(0);
  await new Promise((resolve) => setImmediate(resolve));
  const later = [1, 2, 3].map((request) => batcher.submit(request));
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(batches, [[0]], "nothing else leaves while the only slot is busy");
  release.resolve(undefined);
  t.deepEqual(await Promise.all([first, ...later]), [0, 1, 2, 3]);
  t.deepEqual(batches, [[0], [1, 2], [3]]);
});

test("each append gets its own answer: an error for one does not fail the others", async (t) => {
  const batcher = new MicroBatcher<number, number>(
    (requests) =>
      Promise.resolve(requests.map((request) => (request === 2 ? new Error("refused") : request))),
    1,
    10,
  );
  const outcomes = await Promise.allSettled([1, 2, 3].map((request) => batcher.submit(request)));
  t.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
});

test("a failed batch rejects every append in it, and the batcher keeps working", async (t) => {
  let calls = 0;
  const batcher = new MicroBatcher<number, number>(
    (requests) => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error("connection lost")) : Promise.resolve(requests);
    },
    1,
    10,
  );
  const failed = await Promise.allSettled([1, 2].map((request) => batcher.submit(request)));
  t.true(failed.every((outcome) => outcome.status === "rejected"));
  t.is(await batcher.submit(3), 3);
});

interface Work {
  readonly key: string;
  readonly weight: number;
  readonly index: number;
}

const splitting = {
  weightOf: (work: Work) => work.weight,
  keyOf: (work: Work) => work.key,
  minWeightEach: 100,
};

/** Submits `works` in one tick to a batcher whose batches wait until released; the batches it started. */
async function batchesStartedFor(works: readonly Work[], maxInFlight: number) {
  const started: Work[][] = [];
  const releases: (() => void)[] = [];
  const batcher = new MicroBatcher<Work, number>(
    async (requests) => {
      started.push([...requests]);
      await new Promise<void>((resolve) => releases.push(resolve));
      return requests.map((request) => request.index);
    },
    maxInFlight,
    256,
    { splitting },
  );
  const answers = Promise.all(works.map((work) => batcher.submit(work)));
  await new Promise((resolve) => setImmediate(resolve));
  const inFlightAtOnce = started.map((batch) => [...batch]);
  while (releases.length > 0) {
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { inFlightAtOnce, started, answers: await answers };
}

test("large waiting work is shared among the free slots, evenly by weight", async (t) => {
  const works = Array.from({ length: 16 }, (_, index) => ({ key: `stream-${index}`, weight: 100, index }));
  const { inFlightAtOnce, answers } = await batchesStartedFor(works, 2);
  t.deepEqual(
    inFlightAtOnce.map((batch) => batch.map((work) => work.index)),
    [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
    ],
  );
  t.deepEqual(
    answers,
    works.map((work) => work.index),
  );
});

test("work too small to give each slot its least share leaves as one batch (one commit)", async (t) => {
  const works = Array.from({ length: 16 }, (_, index) => ({ key: `stream-${index}`, weight: 12, index }));
  const { inFlightAtOnce } = await batchesStartedFor(works, 2);
  t.is(inFlightAtOnce.length, 1);
});

test("a split never parts a stream's appends: none in two batches in flight at once, each in its order", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          key: fc.constantFrom("a", "b", "c", "d", "e"),
          weight: fc.integer({ min: 1, max: 300 }),
        }),
        {
          minLength: 1,
          maxLength: 40,
        },
      ),
      fc.integer({ min: 1, max: 4 }),
      async (drawn, maxInFlight) => {
        const works = drawn.map((work, index) => ({ ...work, index }));
        const { inFlightAtOnce, started, answers } = await batchesStartedFor(works, maxInFlight);
        const keysOf = (batch: readonly Work[]) => new Set(batch.map((work) => work.key));
        const inFlightKeys = inFlightAtOnce.flatMap((batch) => [...keysOf(batch)]);
        t.is(new Set(inFlightKeys).size, inFlightKeys.length, "a key in two batches in flight at once");
        t.true(inFlightAtOnce.length <= maxInFlight);
        const sent = started.flat();
        t.deepEqual(
          [...sent].map((work) => work.index).sort((a, b) => a - b),
          works.map((work) => work.index),
        );
        for (const key of ["a", "b", "c", "d", "e"]) {
          const order = sent.filter((work) => work.key === key).map((work) => work.index);
          t.deepEqual(
            order,
            [...order].sort((a, b) => a - b),
            `stream ${key} out of order`,
          );
        }
        t.deepEqual(
          answers,
          works.map((work) => work.index),
        );
        const total = works.reduce((sum, work) => sum + work.weight, 0);
        if (total < 2 * splitting.minWeightEach || maxInFlight === 1) t.is(inFlightAtOnce.length, 1);
      },
    ),
    { numRuns: 200 },
  );
});

test("with `alone`, a batch of one goes alone, and a batch that failed as a whole is sent again request by request", async (t) => {
  const batches: number[][] = [];
  const alone: number[] = [];
  const batcher = new MicroBatcher<number, string>(
    (requests) => {
      batches.push([...requests]);
      return Promise.reject(new Error("the connection was lost"));
    },
    1,
    100,
    {
      alone: (request) => {
        alone.push(request);
        return request === 3 ? Promise.reject(new Error("three is bad")) : Promise.resolve(`ok ${request}`);
      },
    },
  );
  t.is(await batcher.submit(7), "ok 7");
  t.deepEqual(batches, [], "a lone request never went as a batch");
  const outcomes = await Promise.allSettled([1, 2, 3, 4].map((request) => batcher.submit(request)));
  t.deepEqual(batches, [[1, 2, 3, 4]]);
  t.deepEqual(alone, [7, 1, 2, 3, 4]);
  t.deepEqual(
    outcomes.map((outcome) =>
      outcome.status === "fulfilled" ? outcome.value : (outcome.reason as Error).message,
    ),
    ["ok 1", "ok 2", "three is bad", "ok 4"],
  );
});

test("a failed batch's requests are sent again on their own no more than `maxInFlight` at a time", async (t) => {
  let underWay = 0;
  let most = 0;
  const batcher = new MicroBatcher<number, number>(
    () => Promise.reject(new Error("the connection was lost")),
    2,
    100,
    {
      alone: async (request) => {
        underWay += 1;
        most = Math.max(most, underWay);
        await new Promise((resolve) => setTimeout(resolve, 1));
        underWay -= 1;
        return request * 10;
      },
    },
  );
  const requests = Array.from({ length: 40 }, (_, index) => index);
  t.deepEqual(
    await Promise.all(requests.map((request) => batcher.submit(request))),
    requests.map((request) => request * 10),
  );
  t.true(most <= 2 * 2, `${most} sent at once (two failed batches, two each)`);
});
