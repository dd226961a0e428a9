import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../domain/values/TimeZone.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import { handleCommand, type HandleCommandOptions } from "./handleCommand.ts";
import { loadRules } from "./rules/loadRules.ts";
import { StateCache } from "./StateCache.ts";

const test = anyTest as TestFn<TestEventStore & { decider: ReturnType<typeof accountDecider> }>;

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.decider = accountDecider(await loadRules());
});

test.after.always(async (t) => {
  await t.context.dispose();
});

const now = epochMsToInstant(Date.UTC(2026, 10, 24, 9));
const options: HandleCommandOptions = {
  newEventId: randomUUID,
  metadata: { correlationId: "c-1", actor: "test" },
};

function open(accountId: string): AccountCommand {
  return {
    type: "OpenAccount",
    data: {
      accountId,
      customerId: "cust-1",
      phone: "+447911123456" as PhoneNumber,
      currency: "GBP",
      timeZone: "Europe/London" as TimeZone,
      consents: { service: true, marketing: true },
      now,
    },
  };
}

function observe(decimal: string, minute: number): AccountCommand {
  return {
    type: "RecordBalance",
    data: {
      balance: { minor: BigInt(Math.round(Number(decimal) * 100)), currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLines: [],
      referenceTime: epochMsToInstant(Date.UTC(2026, 10, 24, 8, minute)),
      source: "push",
      bankReference: `ref-${minute}`,
      now,
    },
  };
}

test("a command is decided on the stored stream and its events appended at the revision read", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  t.like(await handleCommand(store, decider, stream, open("a"), options), {
    outcome: "accepted",
    revision: 0,
  });
  const low = await handleCommand(store, decider, stream, observe("42.00", 1), options);
  t.like(low, { outcome: "accepted", revision: 2 });
  t.deepEqual(
    (await collect(store.readStream(stream))).map((event) => event.type),
    ["AccountOpened", "BalanceObserved", "AccountQualified"],
  );
  t.like(await handleCommand(store, decider, stream, open("a"), options), {
    outcome: "refused",
    code: "account_already_exists",
  });
  const repeat = await handleCommand(store, decider, stream, observe("42.00", 1), options);
  t.deepEqual(repeat, { outcome: "accepted", events: [], revision: 2, position: undefined });
});

test("an If-Match revision that is not the stream's is answered, never retried", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  await handleCommand(store, decider, stream, open("b"), options);
  const outcome = await handleCommand(store, decider, stream, observe("10.00", 1), {
    ...options,
    expectedRevision: 5,
  });
  t.deepEqual(outcome, { outcome: "revision_mismatch", expected: 5, actual: 0 });
});

test("20 concurrent commands at the same If-Match revision: exactly one wins, the rest get the mismatch", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  await handleCommand(store, decider, stream, open("c"), options);
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, index) =>
      handleCommand(store, decider, stream, observe(`${500 + index}.00`, index + 1), {
        ...options,
        expectedRevision: 0,
      }),
    ),
  );
  t.is(outcomes.filter((outcome) => outcome.outcome === "accepted").length, 1);
  t.is(outcomes.filter((outcome) => outcome.outcome === "revision_mismatch").length, 19);
  t.is((await collect(store.readStream(stream))).length, 2);
});

test("without If-Match, concurrent commands are re-decided on fresh state and all land", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  await handleCommand(store, decider, stream, open("d"), options);
  const outcomes = await Promise.all(
    Array.from({ length: 8 }, (_, index) =>
      handleCommand(store, decider, stream, observe(`${500 + index}.00`, index + 1), {
        ...options,
        retriesOnConflict: 10,
      }),
    ),
  );
  t.true(outcomes.every((outcome) => outcome.outcome === "accepted"));
  t.is((await collect(store.readStream(stream))).length, 9);
});

test("a cached state that another writer made stale is never trusted: the command is decided again", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  const cache = new StateCache<unknown>();
  await handleCommand(store, decider, stream, open("e"), { ...options, cache });
  // Another process appends behind this cache's back.
  await handleCommand(store, decider, stream, observe("42.00", 1), options);
  const second = await handleCommand(store, decider, stream, observe("43.00", 2), { ...options, cache });
  t.like(second, { outcome: "accepted", revision: 3 });
  const ifMatch = await handleCommand(store, decider, stream, observe("200.00", 3), {
    ...options,
    cache: new StateCache<unknown>(),
    expectedRevision: 3,
  });
  t.like(ifMatch, { outcome: "accepted" });
  const staleIfMatch = await handleCommand(store, decider, stream, observe("10.00", 4), {
    ...options,
    cache,
    expectedRevision: 3,
  });
  t.like(staleIfMatch, { outcome: "revision_mismatch", expected: 3 });
  t.deepEqual(
    (await collect(store.readStream(stream))).map((event) => event.type),
    [
      "AccountOpened",
      "BalanceObserved",
      "AccountQualified",
      "BalanceObserved",
      "BalanceObserved",
      "AccountDisqualified",
    ],
  );
});

test("a refusal decided on a cached state is confirmed on the stream: an account opened since the cache read it is not 'unknown'", async (t) => {
  const { store, decider } = t.context;
  const stream = `account-${randomUUID()}`;
  const cache = new StateCache<unknown>();
  // Read (as a bulk import's prefetch does) before the account exists.
  cache.set(stream, decider.initialState(), -1);
  await handleCommand(store, decider, stream, open("f"), options);
  const outcome = await handleCommand(store, decider, stream, observe("42.00", 1), { ...options, cache });
  t.like(outcome, { outcome: "accepted", revision: 2 });
  const unknown = `account-${randomUUID()}`;
  cache.set(unknown, decider.initialState(), -1);
  t.like(await handleCommand(store, decider, unknown, observe("42.00", 1), { ...options, cache }), {
    outcome: "refused",
  });
});
