import test from "ava";
import { AppendBatcher } from "./AppendBatcher.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

test("appends submitted in one tick leave together as one batch", async (t) => {
  const batches: number[][] = [];
  const batcher = new AppendBatcher<number, string>(
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
  const batcher = new AppendBatcher<number, number>(
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
  const batcher = new AppendBatcher<number, number>(
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
  const batcher = new AppendBatcher<number, number>(
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
