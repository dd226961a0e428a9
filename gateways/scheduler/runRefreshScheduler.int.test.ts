import { randomUUID } from "node:crypto";
import anyTest, { type TestFn } from "ava";
import { handleCommand } from "../../commands/handleCommand.ts";
import { accountDecider, type AccountCommand } from "../../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import { accountsProjection } from "../../projections/accounts/accountsProjection.ts";
import { applyProjection } from "../../test/applyProjection.ts";
import { openAccountCommand } from "../../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import { collect } from "../eventStore/eventStoreContract.ts";
import {
  migrateSchedule,
  runRefreshScheduler,
  runSchedulerTick,
  type RefreshSchedulerOptions,
} from "./runRefreshScheduler.ts";

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);
const HOUR = 3_600_000;

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
    rules: [],
    schema: `${t.context.database.schema}_scheduler`,
    accountsView,
    signal: new AbortController().signal,
    clock: () => clockMs,
    newEventId: randomUUID,
    log: (message) => log.push(message),
  };
}

async function scheduledRequests(t: { context: Context }, accountId: string): Promise<number> {
  const events = await collect(t.context.store.readStream(`account-${accountId}`));
  return events.filter(
    (event) => event.type === "BalanceRefreshRequested" && event.data.reason === "scheduled",
  ).length;
}

test("every open account gets a scheduled refresh when due, once per due time, and the schedule survives a restart", async (t) => {
  const view = await openAccounts(t, ["acc-a", "acc-b", "acc-c"], ["acc-c"]);
  await migrateSchedule(t.context.database.pool, `${t.context.database.schema}_scheduler`);
  t.is(await runSchedulerTick(options(t, view, T0)), 2, "the two open accounts");
  t.is(await runSchedulerTick(options(t, view, T0 + 60_000)), 0, "not due again a minute later");
  // A "restart": a fresh scheduler over the same table, five hours later: nothing due yet.
  t.is(await runSchedulerTick(options(t, view, T0 + 5 * HOUR)), 0);
  t.is(await runSchedulerTick(options(t, view, T0 + 6 * HOUR)), 2, "due again after six hours");
  t.deepEqual(
    await Promise.all(["acc-a", "acc-b", "acc-c"].map((id) => scheduledRequests(t, id))),
    [2, 2, 0],
  );
});

test("two schedulers at once: one holds the lease, and no due time is requested twice", async (t) => {
  const view = await openAccounts(t, ["acc-d", "acc-e"], []);
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
