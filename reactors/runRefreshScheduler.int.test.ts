import { capturingLogger } from "../test/capturingLogger.ts";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { handleCommand } from "../commands/handleCommand.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { firstRefreshDue, type RefreshSchedule } from "../domain/account/RefreshSchedule.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import { accountsProjection } from "../projections/accounts/accountsProjection.ts";
import { applyProjection } from "../test/applyProjection.ts";
import { openAccountCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import {
  migrateSchedule,
  runRefreshScheduler,
  runSchedulerTick,
  scheduleTable,
  type RefreshSchedulerOptions,
} from "./runRefreshScheduler.ts";
import { scheduleMembership } from "./scheduleMembership.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import { withMethods } from "../gateways/eventStore/withMethods.ts";

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);
const HOUR = 3_600_000;
const schedule: RefreshSchedule = { periodMs: 6 * HOUR, firstDelayMs: 6 * HOUR };

type Context = TestEventStore;
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
});

test.afterEach.always(async (t) => {
  const { schema } = t.context.database;
  await t.context.dispose([`${schema}_accounts`, `${schema}_scheduler`]);
});

async function run(t: { context: Context }, accountId: string, command: AccountCommand): Promise<void> {
  const outcome = await handleCommand(t.context.store, accountDecider([]), `account-${accountId}`, command, {
    newEventId: randomUUID,
    metadata: { correlationId: "c", actor: "test" },
  });
  if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
}

async function openAccounts(
  t: { context: Context },
  ids: readonly string[],
  closed: readonly string[],
): Promise<string> {
  for (const accountId of ids) {
    await run(t, accountId, openAccountCommand(accountId, T0 - HOUR));
  }
  for (const accountId of closed) {
    await run(t, accountId, {
      type: "CloseAccount",
      data: { reason: null, now: epochMsToInstant(T0 - HOUR) },
    });
  }
  const schema = `${t.context.database.schema}_accounts`;
  await applyProjection(t.context.database.pool, t.context.store, accountsProjection, schema);
  return `"${schema}".accounts`;
}

function options(
  t: { context: Context },
  accountsView: string,
  clockMs: number,
  log: string[] = [],
): RefreshSchedulerOptions {
  return {
    pool: t.context.database.pool,
    store: t.context.store,
    rules: fixedRules([]),
    schema: `${t.context.database.schema}_scheduler`,
    accountsView,
    signal: new AbortController().signal,
    schedule,
    clock: () => clockMs,
    newEventId: randomUUID,
    logger: capturingLogger((message) => log.push(message)),
  };
}

/** `store`, its appends going through `append` instead (which may call the store's own). */
function withAppend(store: EventStore, append: EventStore["append"]): EventStore {
  return withMethods(store, { append });
}

/** Ten open accounts (`acc-0` … `acc-9`) on the schedule, all due a minute before T0. */
async function tenAccountsDue(t: { context: Context }): Promise<{ ids: string[]; view: string; due: Date }> {
  const ids = Array.from({ length: 10 }, (_, index) => `acc-${index}`);
  const view = await openAccounts(t, ids, []);
  const schema = `${t.context.database.schema}_scheduler`;
  await migrateSchedule(t.context.database.pool, schema);
  const due = new Date(T0 - 60_000);
  await t.context.database.pool.query(
    `insert into "${schema}".refresh_schedule (account_id, next_due_at) select id, $2::timestamptz from unnest($1::text[]) as u(id)`,
    [ids, due],
  );
  return { ids, view, due };
}

/** The schedule's due times by account, in epoch ms. */
async function dueTimes(t: { context: Context }): Promise<Record<string, number>> {
  const { rows } = await t.context.database.pool.query<{ account_id: string; next_due_at: Date }>(
    `select account_id, next_due_at from "${t.context.database.schema}_scheduler".refresh_schedule order by account_id`,
  );
  return Object.fromEntries(rows.map((row) => [row.account_id, row.next_due_at.getTime()]));
}

async function scheduledRequests(t: { context: Context }, accountId: string): Promise<number> {
  const events = await collect(t.context.store.readStream(`account-${accountId}`));
  return events.filter(
    (event) => event.type === "BalanceRefreshRequested" && event.data.reason === "scheduled",
  ).length;
}

test("a newly opened account is not refreshed at once: its first scheduled refresh comes a full period later, on its own phase", async (t) => {
  const view = await openAccounts(t, ["acc-a", "acc-b", "acc-c"], ["acc-c"]);
  await migrateSchedule(t.context.database.pool, `${t.context.database.schema}_scheduler`);
  t.is(await runSchedulerTick(options(t, view, T0)), 0, "joined the schedule, nothing requested");
  const firstDue = await dueTimes(t);
  t.deepEqual(firstDue, {
    "acc-a": firstRefreshDue("acc-a", T0, schedule),
    "acc-b": firstRefreshDue("acc-b", T0, schedule),
  });
  t.not(firstDue["acc-a"], firstDue["acc-b"], "spread, not due together");
  t.is(await runSchedulerTick(options(t, view, T0 + 6 * HOUR - 60_000)), 0, "a minute short of a period");
  t.deepEqual(
    await Promise.all(["acc-a", "acc-b", "acc-c"].map((id) => scheduledRequests(t, id))),
    [0, 0, 0],
  );
});

test("every open account gets a scheduled refresh when due, once per due time, and the schedule survives a restart", async (t) => {
  const view = await openAccounts(t, ["acc-a", "acc-b", "acc-c"], ["acc-c"]);
  await migrateSchedule(t.context.database.pool, `${t.context.database.schema}_scheduler`);
  await runSchedulerTick(options(t, view, T0));
  const [early, late] = ["acc-a", "acc-b"]
    .map((id) => ({ id, due: firstRefreshDue(id, T0, schedule) }))
    .sort((one, other) => one.due - other.due);
  if (early === undefined || late === undefined) throw new Error("two accounts");
  t.is(await runSchedulerTick(options(t, view, early.due - 1)), 0, "not before its due time");
  t.is(await runSchedulerTick(options(t, view, early.due)), 1, `${early.id} on its due time`);
  t.is(await runSchedulerTick(options(t, view, early.due + 60_000)), 0, "not due again a minute later");
  // A "restart": a fresh scheduler over the same table picks up where the schedule stands.
  t.is(await runSchedulerTick(options(t, view, late.due)), 1, `${late.id} on its own due time`);
  const after = await dueTimes(t);
  t.deepEqual(after, { [early.id]: early.due + 6 * HOUR, [late.id]: late.due + 6 * HOUR });
  t.is(await runSchedulerTick(options(t, view, early.due + 6 * HOUR)), 1, "due again a period later");
  t.deepEqual(
    await Promise.all([early.id, late.id, "acc-c"].map((id) => scheduledRequests(t, id))),
    [2, 1, 0],
  );
});

test("two schedulers at once: one holds the lease, and no due time is requested twice", async (t) => {
  const view = await openAccounts(t, ["acc-d", "acc-e"], []);
  const schema = `${t.context.database.schema}_scheduler`;
  await migrateSchedule(t.context.database.pool, schema);
  // Both already due (they joined a period and more ago).
  await t.context.database.pool.query(
    `insert into "${schema}".refresh_schedule (account_id, next_due_at) values ('acc-d', $1), ('acc-e', $1)`,
    [new Date(T0 - 60_000)],
  );
  const controller = new AbortController();
  const logs: string[] = [];
  const first = runRefreshScheduler({ ...options(t, view, T0, logs), signal: controller.signal, tickMs: 20 });
  const second = runRefreshScheduler({
    ...options(t, view, T0, logs),
    signal: controller.signal,
    tickMs: 20,
  });
  for (let waited = 0; waited < 5000 && (await scheduledRequests(t, "acc-e")) < 1; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // many more ticks
  controller.abort();
  await Promise.all([first, second]);
  t.deepEqual(await Promise.all(["acc-d", "acc-e"].map((id) => scheduledRequests(t, id))), [1, 1]);
  t.true(logs.some((line) => line.includes("standing by")));
});

test("a tick requests every account due, many at once, each once; `perTick` leaves the rest, earliest first, to the next tick", async (t) => {
  const ids = Array.from({ length: 240 }, (_, index) => `acc-${String(index).padStart(3, "0")}`);
  const view = await openAccounts(t, ids, []);
  const schema = `${t.context.database.schema}_scheduler`;
  await migrateSchedule(t.context.database.pool, schema);
  // Due one millisecond apart, in reverse order of their ids: the earliest must go first.
  await t.context.database.pool.query(
    `insert into "${schema}".refresh_schedule (account_id, next_due_at)
       select id, $2::timestamptz - (n * interval '1 millisecond')
         from unnest($1::text[]) with ordinality as u(id, n)`,
    [ids, new Date(T0 - 60_000)],
  );
  const limited = { ...options(t, view, T0), perTick: 100, concurrency: 8 };
  t.is(await runSchedulerTick(limited), 100);
  const firstTick = ids.filter((id) => id >= "acc-140");
  t.deepEqual(
    await Promise.all(firstTick.map((id) => scheduledRequests(t, id))),
    firstTick.map(() => 1),
    "the 100 due earliest",
  );
  t.is(await runSchedulerTick({ ...options(t, view, T0), concurrency: 8 }), 140, "all the rest in one tick");
  t.is(await runSchedulerTick({ ...options(t, view, T0), concurrency: 8 }), 0, "none is due twice");
  t.deepEqual(
    await Promise.all(ids.map((id) => scheduledRequests(t, id))),
    ids.map(() => 1),
  );
});

test("a request that fails puts the accounts claimed but not yet asked for back as they were due", async (t) => {
  const { ids, view, due } = await tenAccountsDue(t);
  const { store } = t.context;
  let appends = 0;
  const failingStore = withAppend(store, (...args) => {
    appends += 1;
    return appends === 3 ? Promise.reject(new Error("the store is down")) : store.append(...args);
  });
  await t.throwsAsync(runSchedulerTick({ ...options(t, view, T0), store: failingStore, concurrency: 1 }), {
    message: "the store is down",
  });
  const requested = await Promise.all(ids.map((id) => scheduledRequests(t, id)));
  t.is(requested.filter((count) => count === 1).length, 2, "two asked for before the failure");
  const stillDue = Object.entries(await dueTimes(t)).filter(([, at]) => at === due.getTime());
  t.is(stillDue.length, 7, "the seven not yet asked for are due as they were; the failed one waits a period");
  t.is(await runSchedulerTick(options(t, view, T0)), 7, "and the next tick asks for them");
});

test("at the default concurrency, a failed store puts back the accounts whose request never reached its append", async (t) => {
  const { ids, view, due } = await tenAccountsDue(t);
  const { store } = t.context;
  // All ten are under way at once: three reads fail (nothing appended), one append fails.
  const unreadable = new Set(["account-acc-7", "account-acc-8", "account-acc-9"]);
  const failingStore = withMethods(store, {
    readStream: (streamId, options) =>
      unreadable.has(streamId)
        ? (async function* () {
            await sleep(20);
            yield* [];
            throw new Error("the store is down");
          })()
        : store.readStream(streamId, options),
    append: (streamId, expected, events) =>
      streamId === "account-acc-6"
        ? Promise.reject(new Error("the store is down"))
        : store.append(streamId, expected, events),
  });
  await t.throwsAsync(runSchedulerTick({ ...options(t, view, T0), store: failingStore }), {
    message: "the store is down",
  });
  const requested = await Promise.all(ids.map((id) => scheduledRequests(t, id)));
  t.deepEqual(requested, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], "six asked for");
  const stillDue = Object.entries(await dueTimes(t)).filter(([, at]) => at === due.getTime());
  t.deepEqual(
    stillDue.map(([accountId]) => accountId).sort(),
    ["acc-7", "acc-8", "acc-9"],
    "those whose read failed are due as they were; the failed append's waits a period (it may have been written)",
  );
  t.is(await runSchedulerTick(options(t, view, T0)), 3, "and the next tick asks for them");
});

test("a tick that takes longer than tickMs is followed at once, not after another tickMs", async (t) => {
  const early = Array.from({ length: 30 }, (_, index) => `acc-${String(index).padStart(2, "0")}`);
  const view = await openAccounts(t, [...early, "acc-late"], []);
  const schema = `${t.context.database.schema}_scheduler`;
  await migrateSchedule(t.context.database.pool, schema);
  await t.context.database.pool.query(
    `insert into "${schema}".refresh_schedule (account_id, next_due_at)
       select id, $2::timestamptz from unnest($1::text[]) as u(id) union all select 'acc-late', $3::timestamptz`,
    [early, new Date(T0 - 60_000), new Date(T0 + 1000)],
  );
  // Every request takes at least 30 ms, one at a time: the first tick takes about a second.
  const requestedAt = new Map<string, number>();
  const { store } = t.context;
  const slowStore = withAppend(store, async (...args) => {
    await sleep(30);
    const appended = await store.append(...args);
    requestedAt.set(args[0], performance.now());
    return appended;
  });
  const controller = new AbortController();
  const started = performance.now();
  const scheduler = runRefreshScheduler({
    ...options(t, view, T0),
    store: slowStore,
    clock: () => T0 + (performance.now() - started),
    signal: controller.signal,
    tickMs: 1000,
    concurrency: 1,
  });
  for (let waited = 0; waited < 10_000 && !requestedAt.has("account-acc-late"); waited += 20) await sleep(20);
  controller.abort();
  await scheduler;
  const firstTickEnded = Math.max(...early.map((id) => requestedAt.get(`account-${id}`) ?? Number.NaN));
  const late = requestedAt.get("account-acc-late");
  if (late === undefined || Number.isNaN(firstTickEnded)) return t.fail("not every account was requested");
  // Ticks a second apart from start to start: the late account is requested within about
  // 1000 - (the first tick's length) + 30 ms of the first tick's end, not a second after it.
  t.true(
    late - firstTickEnded < 600,
    `requested ${Math.round(late - firstTickEnded)} ms after the first tick ended`,
  );
});

test("accounts join and leave the schedule as they open and close (the fan-out's refresh-schedule consumer); a redelivered opening after the closing keeps a closed account off", async (t) => {
  const { pool, schema } = t.context.database;
  await migrateSchedule(pool, `${schema}_scheduler`);
  const membership = scheduleMembership({
    pool,
    store: t.context.store,
    table: scheduleTable(`${schema}_scheduler`),
    schedule,
    clock: () => T0,
  });
  t.deepEqual([...membership.eventTypes].sort(), ["AccountClosed", "AccountOpened"]);
  await openAccounts(t, ["m-1", "m-2"], []);
  const handle = async (accountId: string, type: string) => {
    const events = await collect(t.context.store.readStream(`account-${accountId}`));
    const event = events.find((candidate) => candidate.type === type);
    if (event === undefined) throw new Error(`${accountId} has no ${type}`);
    await membership.handle(event);
  };
  await handle("m-1", "AccountOpened");
  await handle("m-2", "AccountOpened");
  t.deepEqual(await dueTimes(t), {
    "m-1": firstRefreshDue("m-1", T0, schedule),
    "m-2": firstRefreshDue("m-2", T0, schedule),
  });
  // Again, later: the account keeps the due time it has.
  await membership.handle((await collect(t.context.store.readStream("account-m-1")))[0] as RecordedEvent);
  t.is((await dueTimes(t))["m-1"], firstRefreshDue("m-1", T0, schedule));
  await run(t, "m-2", { type: "CloseAccount", data: { reason: null, now: epochMsToInstant(T0) } });
  await handle("m-2", "AccountClosed");
  t.deepEqual(Object.keys(await dueTimes(t)), ["m-1"]);
  await handle("m-2", "AccountOpened");
  t.deepEqual(Object.keys(await dueTimes(t)), ["m-1"], "the closed account stays off");
});

test("a tick without reconciling does not compare the accounts read model with the schedule; the scheduler reconciles at its first tick, at every tick after a comparison that changed the schedule, then every reconcileEveryMs", async (t) => {
  const view = await openAccounts(t, ["r-1"], []);
  await migrateSchedule(t.context.database.pool, `${t.context.database.schema}_scheduler`);
  t.is(await runSchedulerTick(options(t, view, T0), { reconcile: false }), 0);
  t.deepEqual(await dueTimes(t), {}, "nobody joined: no comparison");
  let clockMs = T0;
  const controller = new AbortController();
  // Ticks far enough apart that an account opened right after one is in the read model by the next.
  const tickMs = 400;
  const running = runRefreshScheduler({
    ...options(t, view, T0),
    clock: () => clockMs,
    signal: controller.signal,
    tickMs,
    reconcileEveryMs: HOUR,
  });
  await waitUntil(async () => Object.keys(await dueTimes(t)).length === 1);
  t.deepEqual(Object.keys(await dueTimes(t)), ["r-1"], "the first tick reconciles");
  // The read model still filling (a first start): what reaches it after the first tick joins too.
  await openAccounts(t, ["r-2"], []);
  await waitUntil(async () => Object.keys(await dueTimes(t)).length === 2);
  t.deepEqual(Object.keys(await dueTimes(t)), ["r-1", "r-2"], "a tick after a change reconciles again");
  // Settled once a comparison finds nothing (two ticks after r-2 joined, backing off): then
  // nothing within the hour.
  await new Promise((resolve) => setTimeout(resolve, tickMs * 4));
  await openAccounts(t, ["r-3"], []);
  await new Promise((resolve) => setTimeout(resolve, tickMs * 3));
  t.deepEqual(
    Object.keys(await dueTimes(t)),
    ["r-1", "r-2"],
    "ticks within the hour after a quiet one do not",
  );
  clockMs = T0 + HOUR;
  await waitUntil(async () => Object.keys(await dueTimes(t)).length === 3);
  t.deepEqual(Object.keys(await dueTimes(t)), ["r-1", "r-2", "r-3"], "an hour on, it reconciles again");
  controller.abort();
  await running;
});

async function waitUntil(done: () => Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await done()); waited += 20) {
    if (waited > 10_000) throw new Error("not so within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
