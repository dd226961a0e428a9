import pino from "pino";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { ruleNotificationId } from "../domain/notification/ruleNotificationId.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import type { RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import { DeadLetters } from "../gateways/fanout/DeadLetters.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import { PendingRetries } from "../gateways/fanout/PendingRetries.ts";
import type { ConsumerOutcome } from "../gateways/fanout/runAmqpConsumer.ts";
import { runInProcessConsumer } from "../gateways/fanout/runInProcessConsumer.ts";
import { openAccountCommand, recordBalanceCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { handleCommand } from "../commands/handleCommand.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import { qualificationPolicy } from "./qualificationPolicy.ts";

type Context = TestEventStore & {
  checkpoints: FanoutCheckpoints;
  deadLetters: DeadLetters;
  retries: PendingRetries;
};
const test = anyTest as TestFn<Context>;

const T0 = Date.UTC(2026, 10, 2, 12, 0, 0);

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.checkpoints = new FanoutCheckpoints(
    t.context.database.pool,
    `${t.context.database.schema}_fanout`,
  );
  await t.context.checkpoints.migrate();
  t.context.deadLetters = new DeadLetters(t.context.database.pool, `${t.context.database.schema}_fanout`);
  await t.context.deadLetters.migrate();
  t.context.retries = new PendingRetries(t.context.database.pool, `${t.context.database.schema}_fanout`);
  await t.context.retries.migrate();
});

test.afterEach.always(async (t) => {
  await t.context.dispose([`${t.context.database.schema}_fanout`]);
});

/** Opens `accountId` in GBP and records `decimals` one minute apart, through the real decider. */
async function balances(
  t: { context: Context },
  accountId: string,
  decimals: readonly string[],
): Promise<void> {
  const decider = accountDecider(await loadRules());
  const run = async (command: AccountCommand) => {
    const outcome = await handleCommand(t.context.store, decider, `account-${accountId}`, command, {
      newEventId: randomUUID,
      metadata: { correlationId: "c", actor: "test" },
    });
    if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
  };
  await run(openAccountCommand(accountId, T0));
  for (const [index, decimal] of decimals.entries()) {
    await run(recordBalanceCommand(decimal, T0 + (index + 1) * 60_000));
  }
}

async function policy(t: { context: Context }, clockMs = T0 + 3_600_000): Promise<EventConsumer> {
  return qualificationPolicy({
    store: t.context.store,
    rules: fixedRules(await loadRules()),
    templates: await loadTemplates(),
    clock: () => clockMs,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  });
}

function runConsumer(
  t: { context: Context },
  consumer: EventConsumer,
  outcomes: { outcome: ConsumerOutcome; eventId: string }[],
  options: { readonly retryDelaysMs?: readonly number[]; readonly concurrency?: number } = {},
): { stop: () => Promise<void> } {
  const controller = new AbortController();
  const running = runInProcessConsumer({
    pool: t.context.database.pool,
    store: t.context.store,
    checkpoints: t.context.checkpoints,
    deadLetters: t.context.deadLetters,
    retries: t.context.retries,
    consumer,
    signal: controller.signal,
    retryDelaysMs: options.retryDelaysMs ?? [20, 40],
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    logger: pino({ level: "silent" }),
    onOutcome: (outcome, eventId) => outcomes.push({ outcome, eventId }),
  });
  return {
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function qualifications(t: { context: Context }, accountId: string): Promise<RecordedEvent[]> {
  const events = await collect(t.context.store.readStream(`account-${accountId}`));
  return events.filter((event) => event.type === "AccountQualified");
}

test("each qualification becomes one notification request under the episode's id, with the rule's template filled in", async (t) => {
  // 50.00: low-balance #1; 200.00 re-arms it; -5.00: low-balance #2 and overdrawn #1.
  await balances(t, "acc-1", ["50.00", "200.00", "-5.00"]);
  const qualified = await qualifications(t, "acc-1");
  t.is(qualified.length, 3);
  const outcomes: { outcome: ConsumerOutcome; eventId: string }[] = [];
  const consumer = runConsumer(t, await policy(t), outcomes);
  await until(() => outcomes.length === 3, 10_000, "three qualifications handled");
  await consumer.stop();
  t.deepEqual(
    outcomes.map((entry) => entry.outcome),
    ["ok", "ok", "ok"],
  );
  const first = await collect(
    t.context.store.readStream(notificationStreamId(ruleNotificationId("acc-1", "low-balance", 1))),
  );
  t.deepEqual(
    first.map((event) => event.type),
    ["NotificationRequested"],
  );
  t.like(first[0]?.data, {
    accountId: "acc-1",
    messageClass: "service",
    templateId: "low-balance",
    body: "Your balance is £50.00, below £100.00. Reply STOP to opt out.",
    rule: { ruleId: "low-balance", episode: 1 },
  });
  t.is(first[0]?.metadata.causationId, qualified[0]?.id, "caused by the qualification");
  const overdrawn = await collect(
    t.context.store.readStream(notificationStreamId(ruleNotificationId("acc-1", "overdrawn", 1))),
  );
  t.like(overdrawn[0]?.data, { body: "Your account is overdrawn: balance -£5.00. Reply STOP to opt out." });
});

test("a qualification delivered twice, or again after a restart from an old checkpoint, still makes one request", async (t) => {
  await balances(t, "acc-2", ["50.00"]);
  const [qualified] = await qualifications(t, "acc-2");
  if (qualified === undefined) return t.fail("no qualification");
  const handler = await policy(t);
  await handler.handle(qualified);
  await handler.handle(qualified);
  await Promise.all([handler.handle(qualified), handler.handle(qualified)]);
  const stream = await collect(
    t.context.store.readStream(notificationStreamId(ruleNotificationId("acc-2", "low-balance", 1))),
  );
  t.is(stream.length, 1, "one NotificationRequested, whatever the deliveries");
});

test("a qualification older than the validity is skipped, not announced late", async (t) => {
  await balances(t, "acc-3", ["50.00"]);
  const [qualified] = await qualifications(t, "acc-3");
  if (qualified === undefined) return t.fail("no qualification");
  await (await policy(t, T0 + 25 * 3_600_000)).handle(qualified);
  const stream = await collect(
    t.context.store.readStream(notificationStreamId(ruleNotificationId("acc-3", "low-balance", 1))),
  );
  t.is(stream.length, 0);
});

test("in-process fan-out: a failing event is retried later, then recorded as a dead letter; the events behind it go on meanwhile", async (t) => {
  await balances(t, "acc-4", ["50.00", "200.00", "60.00"]);
  const [poison, healthy] = await qualifications(t, "acc-4");
  if (poison === undefined || healthy === undefined) return t.fail("two qualifications expected");
  const handled: string[] = [];
  const fixed = { now: false };
  const consumer: EventConsumer = {
    name: "test-poison",
    eventTypes: new Set(["AccountQualified"]),
    handle: (event) => {
      if (event.id === poison.id && !fixed.now) return Promise.reject(new Error("cannot handle this one"));
      handled.push(event.id);
      return Promise.resolve();
    },
  };
  const outcomes: { outcome: ConsumerOutcome; eventId: string }[] = [];
  const running = runConsumer(t, consumer, outcomes);
  await until(() => outcomes.some((entry) => entry.outcome === "dead"), 10_000, "the dead letter");
  await running.stop();
  // The healthy event, behind the failing one in the log, did not wait for its retries.
  t.deepEqual(
    outcomes.map((entry) => entry.outcome),
    ["retry", "ok", "retry", "dead"],
  );
  t.is(await t.context.retries.count("test-poison"), 0);
  const dead = await t.context.deadLetters.list("test-poison");
  t.is(dead.length, 1);
  t.like(dead[0], {
    eventId: poison.id,
    attempts: 3,
    error: "cannot handle this one",
    eventType: "AccountQualified",
  });
  // Restarted, it resumes after its checkpoint: nothing handled again.
  const again: { outcome: ConsumerOutcome; eventId: string }[] = [];
  const restarted = runConsumer(t, consumer, again);
  await sleep(300);
  await restarted.stop();
  t.deepEqual(again, []);
  // Requeued (what `npm run dead-letters -- requeue` does) once the consumer can handle it: the
  // running consumer picks it up, and it is no longer dead.
  fixed.now = true;
  t.is(await t.context.deadLetters.requeue("test-poison", ["00000000-0000-4000-8000-000000000000"]), 0);
  t.is(await t.context.deadLetters.requeue("test-poison", "all"), 1);
  const requeued = runConsumer(t, consumer, []);
  await until(() => handled.includes(poison.id), 10_000, "the requeued event");
  await requeued.stop();
  t.deepEqual(await t.context.deadLetters.list("test-poison"), []);
});

test("in-process fan-out: an event waiting for its retry when the consumer stops is retried after the restart, not lost", async (t) => {
  await balances(t, "acc-5", ["50.00"]);
  const [qualified] = await qualifications(t, "acc-5");
  if (qualified === undefined) return t.fail("no qualification");
  const handled: string[] = [];
  let failures = 0;
  const consumer: EventConsumer = {
    name: "test-restart",
    eventTypes: new Set(["AccountQualified"]),
    handle: (event) => {
      if (failures++ === 0) return Promise.reject(new Error("provider down"));
      handled.push(event.id);
      return Promise.resolve();
    },
  };
  const outcomes: { outcome: ConsumerOutcome; eventId: string }[] = [];
  const first = runConsumer(t, consumer, outcomes, { retryDelaysMs: [400] });
  await until(() => outcomes.length === 1, 10_000, "the first attempt");
  // Past the event: its checkpoint moves on, the retry lives in the table alone.
  await sleep(100);
  await first.stop();
  t.deepEqual(handled, []);
  t.is(await t.context.retries.count("test-restart"), 1);
  const restarted = runConsumer(t, consumer, outcomes, { retryDelaysMs: [400] });
  await until(() => handled.length === 1, 10_000, "the retry after the restart");
  await restarted.stop();
  t.deepEqual(handled, [qualified.id]);
  t.deepEqual(
    outcomes.map((entry) => entry.outcome),
    ["retry", "ok"],
  );
  t.is(await t.context.retries.count("test-restart"), 0);
});

test("in-process fan-out with concurrency 3: a batch's events are handled three at once, each once", async (t) => {
  for (const accountId of ["acc-6", "acc-7", "acc-8", "acc-9", "acc-10", "acc-11"]) {
    await balances(t, accountId, ["50.00"]);
  }
  let active = 0;
  let mostAtOnce = 0;
  const handled: string[] = [];
  const consumer: EventConsumer = {
    name: "test-concurrent",
    eventTypes: new Set(["AccountQualified"]),
    handle: async (event) => {
      active += 1;
      mostAtOnce = Math.max(mostAtOnce, active);
      await sleep(50);
      active -= 1;
      handled.push(event.id);
    },
  };
  const running = runConsumer(t, consumer, [], { concurrency: 3 });
  await until(() => handled.length === 6, 10_000, "six qualifications");
  await running.stop();
  t.is(mostAtOnce, 3);
  t.is(new Set(handled).size, 6);
});
