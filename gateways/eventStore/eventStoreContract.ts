import { randomUUID } from "node:crypto";
import type { TestFn } from "ava";
import type {
  EventStore,
  EventToAppend,
  EventWithoutMetadata,
  JsonObject,
  RecordedEvent,
  Subscription,
} from "./EventStore.ts";
import {
  DuplicateEventIdError,
  InvalidAppendError,
  WrongExpectedRevisionError,
  type InvalidAppendReason,
} from "./EventStoreError.ts";
import { START, comparePositions, type Position } from "./Position.ts";

/** The ava `test` of an adapter's integration test; its context holds the store under test. */
type ContractTest = TestFn<{ store: EventStore }>;
/** A test's title, prefixed with the adapter's name. */
type Title = (text: string) => string;

/**
 * The one behaviour every event store adapter must show. Each adapter's integration test calls
 * this with a factory for a store; tests use fresh stream ids so they can share one store.
 */
export function eventStoreContract(test: ContractTest, adapter: string): void {
  const title: Title = (text) => `${adapter}: ${text}`;
  appendContract(test, title);
  retryContract(test, title);
  refusalContract(test, title);
  concurrencyContract(test, title);
  readContract(test, title);
  snapshotContract(test, title);
  sharedSnapshotContract(test, title);
  subscriptionContract(test, title);
}

/** Appends: what is written and read back, and every kind of expected revision, also under a race. */
function appendContract(test: ContractTest, title: Title): void {
  test(
    title("appends to a new stream and reads it back with ids, data, metadata and revisions"),
    async (t) => {
      const { store } = t.context;
      const stream = streamId();
      const events = [
        event("Opened", { n: 1 }),
        event("Changed", { n: 2, nested: { list: [1, "a", null] } }),
      ];
      const result = await store.append(stream, "no_stream", events);
      t.is(result.nextRevision, 1);
      const read = await collect(store.readStream(stream));
      t.deepEqual(
        read.map((e) => [e.id, e.type, e.data, e.metadata, e.streamId, e.revision]),
        events.map((e, index) => [e.id, e.type, e.data, e.metadata, stream, index]),
      );
      t.is(read[1]?.position, result.position);
      t.true(comparePositions(read[0]!.position, read[1]!.position) < 0);
      t.true(read.every((e) => e.recordedAt instanceof Date && !Number.isNaN(e.recordedAt.getTime())));
    },
  );

  test(title("checks every kind of expected revision"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    const missing = await t.throwsAsync(store.append(stream, "stream_exists", [event("A")]), {
      instanceOf: WrongExpectedRevisionError,
    });
    t.like(missing, {
      code: "wrong_expected_revision",
      streamId: stream,
      expected: "stream_exists",
      actual: -1,
    });
    await t.throwsAsync(store.append(stream, 0, [event("A")]), { instanceOf: WrongExpectedRevisionError });
    t.is((await store.append(stream, "no_stream", [event("A")])).nextRevision, 0);
    const again = await t.throwsAsync(store.append(stream, "no_stream", [event("B")]));
    t.like(again, { expected: "no_stream", actual: 0 });
    t.is((await store.append(stream, "stream_exists", [event("B")])).nextRevision, 1);
    t.is((await store.append(stream, 1, [event("C"), event("D")])).nextRevision, 3);
    const stale = await t.throwsAsync(store.append(stream, 1, [event("E")]));
    t.like(stale, { code: "wrong_expected_revision", expected: 1, actual: 3 });
    t.is((await store.append(stream, "any", [event("F")])).nextRevision, 4);
    t.is((await store.append(streamId(), "any", [event("G")])).nextRevision, 0);
    t.deepEqual(
      (await collect(store.readStream(stream))).map((e) => e.type),
      ["A", "B", "C", "D", "F"],
    );
  });

  test(title("two concurrent appends with the same expected revision: exactly one wins"), async (t) => {
    const { store } = t.context;
    for (let round = 0; round < 10; round += 1) {
      const stream = streamId();
      await store.append(stream, "no_stream", [event("Start")]);
      const outcomes = await Promise.allSettled([
        store.append(stream, 0, [event("Left")]),
        store.append(stream, 0, [event("Right")]),
      ]);
      t.is(outcomes.filter((o) => o.status === "fulfilled").length, 1);
      const rejected = outcomes.find((o) => o.status === "rejected");
      t.true(rejected?.reason instanceof WrongExpectedRevisionError);
      t.is((await collect(store.readStream(stream))).length, 2);
    }
  });
}

/** Retries: the same events at the same place answer as the first append; an event id names one event. */
function retryContract(test: ContractTest, title: Title): void {
  test(title("re-appending the same events at the same place is an idempotent success"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    const first = [event("A"), event("B")];
    const result = await store.append(stream, "no_stream", first);
    t.deepEqual(await store.append(stream, "no_stream", first), result);
    const second = [event("C")];
    const secondResult = await store.append(stream, 1, second);
    t.deepEqual(await store.append(stream, 1, second), secondResult);
    t.deepEqual(await store.append(stream, "any", second), secondResult);
    t.deepEqual(await store.append(stream, "stream_exists", second), secondResult);
    // The same ids in another place are not a retry: the expectation decides.
    await t.throwsAsync(store.append(stream, 0, second), { instanceOf: WrongExpectedRevisionError });
    t.deepEqual(
      (await collect(store.readStream(stream))).map((e) => e.type),
      ["A", "B", "C"],
    );
  });

  test(
    title("a retry with any or stream_exists after another writer appended writes nothing twice"),
    async (t) => {
      const { store } = t.context;
      const stream = streamId();
      const mine = [event("Mine"), event("MineToo")];
      const first = await store.append(stream, "any", mine);
      await store.append(stream, "any", [event("Theirs")]);
      t.deepEqual(await store.append(stream, "any", mine), first);
      t.deepEqual(await store.append(stream, "stream_exists", mine), first);
      t.deepEqual(
        (await collect(store.readStream(stream))).map((e) => e.type),
        ["Mine", "MineToo", "Theirs"],
      );
    },
  );

  test(title("an event id names one event in the whole log"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    const original = event("Original", { n: 1 });
    await store.append(stream, "no_stream", [original]);
    const elsewhere = await t.throwsAsync(store.append(streamId(), "any", [original]), {
      instanceOf: DuplicateEventIdError,
    });
    t.like(elsewhere, { code: "duplicate_event_id", eventId: original.id });
    // The same id at the same place with other content is not a retry: refused, not dropped.
    await t.throwsAsync(store.append(stream, "no_stream", [{ ...original, data: { n: 2 } }]), {
      instanceOf: DuplicateEventIdError,
    });
    await t.throwsAsync(store.append(stream, "any", [{ ...original, type: "Other" }]), {
      instanceOf: DuplicateEventIdError,
    });
    // Only some of the ids reused: refused, and none of the events written.
    await t.throwsAsync(store.append(stream, 0, [event("New"), original]), {
      instanceOf: DuplicateEventIdError,
    });
    t.deepEqual(
      (await collect(store.readStream(stream))).map((e) => [e.type, e.data]),
      [["Original", { n: 1 }]],
    );
  });
}

/** A refused append, for its expectation or for bad input, writes none of its events. */
function refusalContract(test: ContractTest, title: Title): void {
  test(title("a refused multi-event append writes none of its events"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    await store.append(stream, "no_stream", [event("A")]);
    await t.throwsAsync(store.append(stream, 5, [event("B"), event("C"), event("D")]), {
      instanceOf: WrongExpectedRevisionError,
    });
    t.deepEqual(
      (await collect(store.readStream(stream))).map((e) => e.type),
      ["A"],
    );
  });

  test(title("bad input gets a typed error and writes nothing"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: [InvalidAppendReason, () => Promise<unknown>][] = [
      ["empty_event_list", () => store.append(stream, "any", [])],
      ["bad_expected_revision", () => store.append(stream, "latest" as never, [event("A")])],
      ["bad_expected_revision", () => store.append(stream, -1, [event("A")])],
      ["data_not_json", () => store.append(stream, "any", [event("A", { amount: 10n } as never)])],
      ["data_not_json", () => store.append(stream, "any", [event("A", { f: () => 1 } as never)])],
      ["data_not_json", () => store.append(stream, "any", [event("A", { n: Number.NaN })])],
      ["data_not_json", () => store.append(stream, "any", [event("A", { at: new Date() } as never)])],
      ["data_not_json", () => store.append(stream, "any", [event("A", circular as never)])],
      ["data_not_json", () => store.append(stream, "any", [event("A", { text: "nul\u0000byte" })])],
      ["data_not_json", () => store.append(stream, "any", ["not an event" as never])],
      [
        "event_too_large",
        () => store.append(stream, "any", [event("A", { blob: "x".repeat(10 * 1024 * 1024) })]),
      ],
      ["bad_event_id", () => store.append(stream, "any", [{ ...event("A"), id: "not-a-uuid" }])],
      ["bad_event_type", () => store.append(stream, "any", [{ ...event("A"), type: "" }])],
      ["metadata_invalid", () => store.append(stream, "any", [{ ...event("A"), metadata: {} as never }])],
      ["bad_stream_id", () => store.append("", "any", [event("A")])],
    ];
    for (const [reason, attempt] of bad) {
      const error = await t.throwsAsync(attempt(), { instanceOf: InvalidAppendError }, reason);
      t.is(error.reason, reason, error.message);
    }
    // A good event beside a bad one in the same append is not written either.
    await t.throwsAsync(store.append(stream, "any", [event("Good"), event("Bad", { n: Infinity })]), {
      instanceOf: InvalidAppendError,
    });
    t.deepEqual(await collect(store.readStream(stream)), []);
  });
}

/** Many writers at once: every append lands, each stream in revision order in the log. */
function concurrencyContract(test: ContractTest, title: Title): void {
  test(
    title("concurrent appends to shared streams keep every stream in revision order in the log"),
    async (t) => {
      const { store } = t.context;
      const streams = Array.from({ length: 6 }, () => streamId());
      const answered = new Map<string, { revision: number; position: Position }[]>();
      await Promise.all(
        Array.from({ length: 12 }, async (_, writer) => {
          for (let index = 0; index < 20; index += 1) {
            const stream = streams[(writer + index) % streams.length]!;
            try {
              const result = await store.append(stream, index % 3 === 1 ? "stream_exists" : "any", [
                event("Shared", { writer, index }),
              ]);
              answered.set(stream, [
                ...(answered.get(stream) ?? []),
                { revision: result.nextRevision, position: result.position },
              ]);
            } catch (error) {
              if (!(error instanceof WrongExpectedRevisionError)) throw error;
            }
          }
        }),
      );
      const seen = new Map<string, number[]>();
      for await (const e of store.readAll()) {
        if (streams.includes(e.streamId)) seen.set(e.streamId, [...(seen.get(e.streamId) ?? []), e.revision]);
      }
      for (const stream of streams) {
        const revisions = seen.get(stream) ?? [];
        t.deepEqual(
          revisions,
          revisions.map((_, index) => index),
          `${stream} in revision order in the log`,
        );
        const answers = (answered.get(stream) ?? []).toSorted((a, b) => a.revision - b.revision);
        t.true(
          answers.every(
            (answer, index) =>
              index === 0 || comparePositions(answers[index - 1]!.position, answer.position) < 0,
          ),
          `${stream}: a later revision was never answered a lower position`,
        );
      }
    },
  );

  test(title("concurrent appends to many streams all land, each stream in order"), async (t) => {
    const { store } = t.context;
    const streams = Array.from({ length: 32 }, () => streamId());
    await Promise.all(
      streams.map(async (stream) => {
        for (let revision = 0; revision < 10; revision += 1) {
          await store.append(stream, revision === 0 ? "no_stream" : revision - 1, [
            event("Step", { revision }),
          ]);
        }
      }),
    );
    for (const stream of streams) {
      const read = await collect(store.readStream(stream));
      t.deepEqual(
        read.map((e) => e.data.revision),
        Array.from({ length: 10 }, (_, index) => index),
      );
    }
  });
}

/** Reading one stream, and the whole log, in order, from a point, with limits. */
function readContract(test: ContractTest, title: Title): void {
  test(
    title("reads a stream forwards and backwards, from a revision, with a limit, across pages"),
    async (t) => {
      const { store } = t.context;
      const stream = streamId();
      const count = 2_345;
      await store.append(
        stream,
        "no_stream",
        Array.from({ length: count }, (_, index) => event("Counted", { index })),
      );
      const forwards = await collect(store.readStream(stream));
      t.deepEqual(
        forwards.map((e) => e.revision),
        Array.from({ length: count }, (_, index) => index),
      );
      t.true(forwards.every((e) => e.data.index === e.revision));
      const backwards = await collect(store.readStream(stream, { direction: "backwards" }));
      t.deepEqual(
        backwards.map((e) => e.revision),
        Array.from({ length: count }, (_, index) => count - 1 - index),
      );
      const slice = await collect(store.readStream(stream, { fromRevision: 1_000, maxCount: 3 }));
      t.deepEqual(
        slice.map((e) => e.revision),
        [1_000, 1_001, 1_002],
      );
      const backSlice = await collect(
        store.readStream(stream, { direction: "backwards", fromRevision: 2, maxCount: 10 }),
      );
      t.deepEqual(
        backSlice.map((e) => e.revision),
        [2, 1, 0],
      );
      t.deepEqual(await collect(store.readStream(streamId())), []);
    },
  );

  test(title("reads the whole log after a position, in position order"), async (t) => {
    const { store } = t.context;
    const marker = await store.append(streamId(), "no_stream", [event("Marker")]);
    const streams = [streamId(), streamId(), streamId()];
    const appended: string[] = [];
    for (let round = 0; round < 4; round += 1) {
      for (const stream of streams) {
        const e = event("Logged", { round });
        appended.push(e.id);
        await store.append(stream, "any", [e]);
      }
    }
    const mine = new Set(streams);
    const read: RecordedEvent[] = [];
    for await (const e of store.readAll(marker.position)) if (mine.has(e.streamId)) read.push(e);
    t.deepEqual(
      read.map((e) => e.id),
      appended,
    );
    t.true(isStrictlyIncreasing(read.map((e) => e.position)));
    const limited = await collect(store.readAll(START, { maxCount: 2 }));
    t.is(limited.length, 2);
    // Bounded above (inclusive): nothing after `to`, everything up to it.
    const upTo = read[2]?.position;
    if (upTo === undefined) return t.fail("too few events read");
    const bounded: RecordedEvent[] = [];
    for await (const e of store.readAll(marker.position, { to: upTo }))
      if (mine.has(e.streamId)) bounded.push(e);
    t.deepEqual(
      bounded.map((e) => e.id),
      appended.slice(0, 3),
    );
  });
}

/**
 * Log snapshots: the whole log in order, of the types asked for, in batches; what is appended
 * once the read began is not in it; leaving early releases what the read held.
 */
function snapshotContract(test: ContractTest, title: Title): void {
  test(title("a log snapshot gives the log in order, only the types asked for, as it stood"), async (t) => {
    const { store } = t.context;
    const streams = [streamId("snapshot"), streamId("snapshot")];
    const appended: { id: string; type: string }[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const stream of streams) {
        const e = event(round % 2 === 0 ? "Kept" : "Skipped", { round });
        appended.push({ id: e.id, type: e.type });
        await store.append(stream, "any", [e]);
      }
    }
    const mine = new Set(streams);
    const read: { streamId: string; type: string; data: unknown }[] = [];
    let afterwards: string | undefined;
    for await (const batch of store.readLogSnapshot({ types: ["Kept"], batchSize: 2 })) {
      t.true(batch.length > 0 && batch.length <= 2);
      if (afterwards === undefined) {
        const late = event("Kept", { late: true });
        afterwards = late.id;
        await store.append(streams[0]!, "any", [late]);
      }
      for (const e of batch) if (mine.has(e.streamId)) read.push(e);
    }
    t.deepEqual(
      read.map((e) => [e.type, e.data]),
      appended.flatMap((e, index) =>
        e.type === "Kept" ? [["Kept", { round: Math.floor(index / streams.length) }]] : [],
      ),
    );
    t.is(read.length, 6, "the event appended after the read began is not in the snapshot");
    // Leaving early, again and again, leaves the store usable (the connection goes back).
    for (let attempt = 0; attempt < 12; attempt += 1) {
      for await (const batch of store.readLogSnapshot({ batchSize: 1 })) {
        t.is(batch.length, 1);
        break;
      }
    }
    await store.append(streamId("snapshot"), "no_stream", [event("Still")]);
  });
}

/**
 * A shared log snapshot read in parts: whole streams per part, each event once, as the log stood
 * when shared; bad parts refused before any read. A store that shares none refuses a part.
 */
function sharedSnapshotContract(test: ContractTest, title: Title): void {
  test(
    title(
      "a shared snapshot is read in parts: each stream whole in one part, each event once, as the log stood when shared",
    ),
    async (t) => {
      const { store } = t.context;
      const parts = 3;
      if (store.shareLogSnapshot === undefined) {
        await t.throwsAsync(drain(store.readLogSnapshot({ part: { snapshot: "any", index: 0, count: 2 } })), {
          instanceOf: RangeError,
        });
        return;
      }
      const streams = Array.from({ length: 12 }, () => streamId("parts"));
      // Text that tests the data's decoding: quotes, a backslash, a line separator, astral letters.
      const text = 'ünï "quoted" \\ \u2028 😀';
      for (let round = 0; round < 3; round += 1) {
        for (const stream of streams) await store.append(stream, "any", [event("Part", { round, text })]);
      }
      const mine = new Set(streams);
      const whole: string[] = [];
      for await (const batch of store.readLogSnapshot({ types: ["Part"] })) {
        for (const e of batch)
          if (mine.has(e.streamId)) whole.push(`${e.streamId}/${String(e.data["round"])}`);
      }
      const shared = await store.shareLogSnapshot();
      try {
        await store.append(streams[0]!, "any", [event("Part", { round: 99, text })]);
        const read = await Promise.all(
          Array.from({ length: parts }, async (_, index) => {
            const events: { streamId: string; data: Readonly<Record<string, unknown>> }[] = [];
            const part = { snapshot: shared.id, index, count: parts };
            for await (const batch of store.readLogSnapshot({ types: ["Part"], batchSize: 4, part })) {
              events.push(...batch.filter((e) => mine.has(e.streamId)));
            }
            t.true(events.every((e) => e.data["text"] === text));
            return events.map((e) => `${e.streamId}/${String(e.data["round"])}`);
          }),
        );
        t.is(read.flat().length, whole.length, "each event once; the one appended after sharing in none");
        for (const events of read) {
          const own = new Set(events.map((e) => e.split("/")[0]));
          t.deepEqual(
            events,
            whole.filter((e) => own.has(e.split("/")[0])),
            "whole streams, in the log's order",
          );
        }
        t.true(
          read.filter((events) => events.length > 0).length > 1,
          "twelve streams do not all fall in one part",
        );
        for (const part of [
          { snapshot: shared.id, index: parts, count: parts },
          { snapshot: shared.id, index: 0, count: 0 },
          { snapshot: shared.id, index: -1, count: 2 },
          { snapshot: "00000003-0000001B-1'; drop table events; --", index: 0, count: 2 },
        ]) {
          await t.throwsAsync(drain(store.readLogSnapshot({ part })), { instanceOf: RangeError });
        }
      } finally {
        await shared.release();
        await shared.release();
      }
      await t.throwsAsync(
        drain(store.readLogSnapshot({ part: { snapshot: shared.id, index: 0, count: 2 } })),
        undefined,
        "a released snapshot is no longer there to read",
      );
      await store.append(streamId("parts"), "no_stream", [event("Still")]);
    },
  );
}

/** Reads to the end, keeping nothing. */
async function drain(batches: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const batch of batches) if (batch !== undefined) count += 1;
  return count;
}

/** Subscriptions: catching up, following live appends, closing, and leaving out metadata. */
function subscriptionContract(test: ContractTest, title: Title): void {
  test(title("a subscription catches up, signals it, follows live appends and closes cleanly"), async (t) => {
    const { store } = t.context;
    const stream = streamId();
    const before = await store.append(stream, "no_stream", [event("Before1"), event("Before2")]);
    const start = await store.append(streamId(), "no_stream", [event("Start")]);
    await store.append(stream, 1, [event("Old1"), event("Old2"), event("Old3")]);
    const subscription = store.subscribe({ from: start.position, batchSize: 2 });
    const seen: string[] = [];
    let caughtUpAt = -1;
    let liveAppended = false;
    for await (const message of subscription) {
      if (message.kind === "caughtUp") {
        caughtUpAt = seen.length;
        if (!liveAppended) {
          liveAppended = true;
          void store
            .append(stream, 4, [event("Live1")])
            .then(() => store.append(stream, 5, [event("Live2")]));
        }
        continue;
      }
      for (const e of message.events) if (e.streamId === stream) seen.push(e.type);
      t.true(message.events.length <= 2);
      if (seen.includes("Live2")) break;
    }
    t.deepEqual(seen, ["Old1", "Old2", "Old3", "Live1", "Live2"]);
    t.true(caughtUpAt >= 3 && caughtUpAt <= 3, `caughtUp after the three old events (at ${caughtUpAt})`);
    t.true(comparePositions(before.position, start.position) < 0);
    await subscription.close();
    const closed = store.subscribe({ from: start.position });
    await closed.close();
    const afterClose: unknown[] = [];
    for await (const message of closed) afterClose.push(message);
    t.deepEqual(afterClose, []);
  });

  test(
    title("a subscription without metadata hands over the same events, minus their metadata"),
    async (t) => {
      const { store } = t.context;
      const start = await store.append(streamId(), "no_stream", [event("Start")]);
      const stream = streamId();
      await store.append(stream, "no_stream", [
        event("One", { n: 1 }),
        event("Two", { n: 2 }),
        event("Three"),
      ]);
      const withMetadata = await eventsUntilCaughtUp(
        store.subscribe({ from: start.position, batchSize: 2 }),
        stream,
      );
      const without = await eventsUntilCaughtUp(
        store.subscribeWithoutMetadata({ from: start.position, batchSize: 2 }),
        stream,
      );
      t.deepEqual(
        withMetadata.map((e) => e.metadata.actor),
        ["contract-test", "contract-test", "contract-test"],
      );
      t.deepEqual(without.map(withoutMetadata), withMetadata.map(withoutMetadata));
    },
  );
}

/** A fresh stream id, so tests sharing one store never collide. */
export function streamId(category = "contract"): string {
  return `${category}-${randomUUID()}`;
}

/** A valid event with a fresh id. */
export function event(type: string, data: JsonObject = {}): EventToAppend {
  return {
    id: randomUUID(),
    type,
    data,
    metadata: { correlationId: randomUUID(), actor: "contract-test" },
  };
}

/** The events of `stream` a subscription hands over until it has caught up; then it is closed. */
async function eventsUntilCaughtUp<Event extends EventWithoutMetadata>(
  subscription: Subscription<Event>,
  stream: string,
): Promise<Event[]> {
  const events: Event[] = [];
  for await (const message of subscription) {
    if (message.kind === "caughtUp") break;
    events.push(...message.events.filter((e) => e.streamId === stream));
  }
  await subscription.close();
  return events;
}

function withoutMetadata(recorded: EventWithoutMetadata): EventWithoutMetadata {
  const { id, type, data, streamId, revision, position, recordedAt } = recorded;
  return { id, type, data, streamId, revision, position, recordedAt };
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function isStrictlyIncreasing(positions: readonly Position[]): boolean {
  return positions.every(
    (position, index) => index === 0 || comparePositions(positions[index - 1]!, position) < 0,
  );
}
