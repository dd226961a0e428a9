import { capturingLogger } from "../../test/capturingLogger.ts";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import amqp, { type Channel, type ChannelModel } from "amqplib";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { event } from "../eventStore/eventStoreContract.ts";
import { holdWhileRestartingTheBroker } from "../../test/brokerRestarts.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import {
  closeConnection,
  CONNECT_OPTIONS,
  consumerQueues,
  EVENTS_EXCHANGE,
  type ConsumerBinding,
} from "./amqpTopology.ts";
import { fromEventMessageBody } from "./eventMessage.ts";
import type { EventConsumer } from "./EventConsumer.ts";
import { FanoutCheckpoints } from "./FanoutCheckpoints.ts";
import { listAmqpDeadLetters, requeueAmqpDeadLetters } from "./amqpDeadLetters.ts";
import { runAmqpConsumer, type ConsumerOutcome } from "./runAmqpConsumer.ts";
import { RELAY_NAME, runAmqpRelay } from "./runAmqpRelay.ts";

/** Where integration tests find RabbitMQ: `npm run services` starts it. A missing broker fails. */
const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

type Context = TestEventStore & {
  checkpoints: FanoutCheckpoints;
  connection: ChannelModel;
  channel: Channel;
  /** A stream category no other test publishes: this test's routing keys start with it. */
  category: string;
  queues: string[];
  /** Set at the end: collectors stop reconnecting and close. */
  collectors: { stopping: boolean; connections: ChannelModel[] };
};
// One broker for all: the restart test would break tests running beside it.
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.checkpoints = new FanoutCheckpoints(
    t.context.database.pool,
    `${t.context.database.schema}_fanout`,
  );
  await t.context.checkpoints.migrate();
  t.context.connection = await amqp.connect(AMQP_URL, CONNECT_OPTIONS);
  t.context.connection.on("error", () => undefined);
  t.context.channel = await t.context.connection.createChannel();
  t.context.category = `t${randomBytes(5).toString("hex")}`;
  t.context.queues = [];
  t.context.collectors = { stopping: false, connections: [] };
});

test.afterEach.always(async (t) => {
  t.context.collectors.stopping = true;
  for (const connection of t.context.collectors.connections) await closeConnection(connection);
  const cleanup = await amqp.connect(AMQP_URL, CONNECT_OPTIONS).catch(() => undefined);
  const channel = await cleanup?.createChannel();
  for (const queue of t.context.queues) await channel?.deleteQueue(queue).catch(() => undefined);
  if (cleanup !== undefined) await closeConnection(cleanup);
  await closeConnection(t.context.connection);
  await t.context.dispose([`${t.context.database.schema}_fanout`]);
});

/** A durable queue bound to this test's category, collecting what arrives (acknowledged). */
async function collect(t: { context: Context }): Promise<RecordedEvent[]> {
  const queue = `test.${t.context.category}`;
  t.context.queues.push(queue);
  await t.context.channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
  await t.context.channel.assertQueue(queue, { durable: true });
  await t.context.channel.bindQueue(queue, EVENTS_EXCHANGE, `${t.context.category}.#`);
  const received: RecordedEvent[] = [];
  const listen = async () => {
    const connection = await amqp.connect(AMQP_URL, CONNECT_OPTIONS);
    t.context.collectors.connections.push(connection);
    connection.on("error", () => undefined);
    // After a broker restart, listen again (the queue and its messages survive: durable, persistent).
    connection.on("close", () => {
      if (!t.context.collectors.stopping) void retry();
    });
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    await channel.consume(queue, (message) => {
      if (message === null) return;
      received.push(fromEventMessageBody(message.content));
      channel.ack(message);
    });
  };
  const retry = async () => {
    while (!t.context.collectors.stopping) {
      try {
        await listen();
        return;
      } catch {
        await sleep(200);
      }
    }
  };
  await listen();
  return received;
}

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function startRelay(
  t: { context: Context },
  log: string[] = [],
  consumers: readonly ConsumerBinding[] = [],
): { stop: () => Promise<void> } {
  const controller = new AbortController();
  const running = runAmqpRelay({
    consumers,
    pool: t.context.database.pool,
    store: t.context.store,
    checkpoints: t.context.checkpoints,
    amqpUrl: AMQP_URL,
    signal: controller.signal,
    window: 500,
    logger: capturingLogger((message) => {
      if (process.env.DEBUG_FANOUT) console.error(`${new Date().toISOString()} ${message}`);
      log.push(message);
    }),
    reconnectDelayMs: { first: 100, longest: 1000 },
  });
  return {
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

test.serial(
  "the relay publishes every event, persistent and in stream order, and moves its checkpoint once confirmed",
  async (t) => {
    const { store, category } = t.context;
    const received = await collect(t);
    for (let index = 0; index < 20; index += 1) {
      await store.append(
        `${category}-${index % 4}`,
        "any",
        Array.from({ length: 100 }, () => event("Counted")),
      );
    }
    const relay = startRelay(t);
    await until(() => received.length >= 2000, 30_000, "2,000 events");
    const positions: string[] = [];
    for await (const recorded of store.readAll()) positions.push(recorded.position);
    await until(
      async () => (await t.context.checkpoints.read(RELAY_NAME)) === positions.at(-1),
      10_000,
      "the checkpoint",
    );
    await relay.stop();
    t.is(received.length, 2000);
    t.is(new Set(received.map((recorded) => recorded.id)).size, 2000, "every event once");
    for (let stream = 0; stream < 4; stream += 1) {
      const revisions = received
        .filter((recorded) => recorded.streamId === `${category}-${stream}`)
        .map((r) => r.revision);
      t.deepEqual(
        revisions,
        Array.from({ length: 500 }, (_, index) => index),
        `stream ${stream} in order`,
      );
    }
    // Appended later, published from the checkpoint on: nothing again, nothing missed.
    await store.append(`${category}-late`, "any", [event("Counted")]);
    const again = startRelay(t);
    await until(() => received.length >= 2001, 10_000, "the late event");
    await sleep(200);
    await again.stop();
    t.is(received.length, 2001);
    t.is(received.at(-1)?.streamId, `${category}-late`);
  },
);

test.serial(
  "RabbitMQ restarted mid-flow: the relay reconnects by itself and every event arrives (duplicates allowed, no loss)",
  async (t) => {
    await mayRestartTheBroker(t);
    const { store, category } = t.context;
    const received = await collect(t);
    const appended = 20_000;
    for (let index = 0; index < appended / 500; index += 1) {
      await store.append(
        `${category}-${index % 10}`,
        "any",
        Array.from({ length: 500 }, () => event("Counted")),
      );
    }
    const log: string[] = [];
    const relay = startRelay(t, log);
    await until(() => received.length >= 1000, 30_000, "the first events");
    await restartTheBroker();
    await until(
      () => new Set(received.map((recorded) => recorded.id)).size >= appended,
      60_000,
      "every event",
    );
    await relay.stop();
    const unique = new Set(received.map((recorded) => recorded.id)).size;
    t.is(unique, appended, "no event lost");
    t.true(
      log.some((line) => line.includes("reconnecting")),
      "the relay saw the broker go",
    );
    t.log(`${received.length - unique} duplicates re-published after the restart (unconfirmed window)`);
  },
);

test.serial(
  "RabbitMQ restarted while a consumer works through its queue: every event is handled (at least once), none lost",
  async (t) => {
    await mayRestartTheBroker(t);
    const { store, category } = t.context;
    const { consumer, handled } = flakyConsumer(t, () => false);
    const outcomes: ConsumerOutcome[] = [];
    const running = startConsumer(t, consumer, outcomes);
    await running.consuming;
    const appended = 5000;
    for (let index = 0; index < appended / 500; index += 1) {
      await store.append(
        `${category}-${index % 5}`,
        "any",
        Array.from({ length: 500 }, () => event(`Tested_${category}`)),
      );
    }
    const relay = startRelay(t);
    await until(() => handled.length >= 500, 30_000, "the first events handled");
    await restartTheBroker();
    await until(() => new Set(handled).size >= appended, 60_000, "every event handled");
    await relay.stop();
    await running.stop();
    t.is(new Set(handled).size, appended, "no event lost");
    t.log(`${handled.length - appended} handled twice (redelivered after the restart)`);
  },
);

test.serial(
  "events relayed before their consumer ever started wait in its queue: the relay declares every consumer's queue before it publishes",
  async (t) => {
    const { store, category } = t.context;
    const { consumer, handled } = flakyConsumer(t, () => false);
    const appended = 300;
    let last = "";
    for (let index = 0; index < appended / 100; index += 1) {
      ({ position: last } = await store.append(
        `${category}-${index}`,
        "no_stream",
        Array.from({ length: 100 }, () => event(`Tested_${category}`)),
      ));
    }
    // A fresh broker for this consumer: nothing declared its queue yet. The relay publishes it all.
    const relay = startRelay(t, [], [consumer]);
    await until(
      async () => (await t.context.checkpoints.read(RELAY_NAME)) >= last,
      30_000,
      "the relay's checkpoint past the events (confirmed by the broker)",
    );
    await relay.stop();
    const outcomes: ConsumerOutcome[] = [];
    const running = startConsumer(t, consumer, outcomes);
    await running.consuming;
    await until(() => new Set(handled).size >= appended, 30_000, "every event handled");
    await running.stop();
    t.is(new Set(handled).size, appended, "no event lost");
  },
);

test.serial(
  "a consumer's queue RabbitMQ will not declare as this version asks (it exists with other arguments) is reported and left: the relay publishes on",
  async (t) => {
    const { store, category } = t.context;
    const refused: ConsumerBinding = {
      name: `test-${category}-other`,
      eventTypes: new Set([`Tested_${category}`]),
    };
    const main = consumerQueues(refused.name, []).main;
    t.context.queues.push(main);
    await t.context.channel.assertQueue(main, { durable: true, arguments: { "x-message-ttl": 3_600_000 } });
    const received = await collect(t);
    for (let index = 0; index < 10; index += 1) {
      await store.append(`${category}-${index}`, "no_stream", [event(`Tested_${category}`)]);
    }
    const log: string[] = [];
    const relay = startRelay(t, log, [refused]);
    await until(() => received.length >= 10, 30_000, "every event at the other queue");
    await relay.stop();
    t.is(new Set(received.map((recorded) => recorded.id)).size, 10);
    t.true(
      log.some((line) => line.includes(`refused to declare the queue of consumer ${refused.name}`)),
      "the refusal said",
    );
  },
);

/**
 * Before anything else in a test that restarts the broker: waits until no test that cannot ride
 * out a restart is running (they wait meanwhile), so the restart then lands mid-flow, as the test
 * means it to. The wait may take a while: the test's timeout grows by as much. Released after it.
 */
async function mayRestartTheBroker(t: ExecutionContext): Promise<void> {
  t.timeout(300_000);
  t.teardown(await holdWhileRestartingTheBroker());
}

/** stop_app, start_app (after `mayRestartTheBroker`). */
async function restartTheBroker(): Promise<void> {
  const exec = (file: string, args: string[]) => promisify(execFile)(file, args, { timeout: 60_000 });
  await exec("rabbitmqctl", ["stop_app"]);
  await exec("rabbitmqctl", ["start_app"]);
}

/** A consumer of this test's own event type that fails as told. */
function flakyConsumer(
  t: { context: Context },
  failures: (attempt: number) => boolean,
): { consumer: EventConsumer; attempts: Map<string, number>; handled: string[] } {
  const attempts = new Map<string, number>();
  const handled: string[] = [];
  return {
    attempts,
    handled,
    consumer: {
      name: `test-${t.context.category}`,
      eventTypes: new Set([`Tested_${t.context.category}`]),
      handle(recorded) {
        const attempt = (attempts.get(recorded.id) ?? 0) + 1;
        attempts.set(recorded.id, attempt);
        if (failures(attempt)) return Promise.reject(new Error(`refused attempt ${attempt}`));
        handled.push(recorded.id);
        return Promise.resolve();
      },
    },
  };
}

function startConsumer(
  t: { context: Context },
  consumer: EventConsumer,
  outcomes: ConsumerOutcome[],
  concurrency = 1,
): { stop: () => Promise<void>; consuming: Promise<void> } {
  const retryDelaysMs = [100, 300];
  let consuming!: () => void;
  const ready = new Promise<void>((resolve) => (consuming = resolve));
  const queues = consumerQueues(consumer.name, retryDelaysMs);
  t.context.queues.push(queues.main, queues.dead, ...queues.retries.map((retry) => retry.queue));
  const controller = new AbortController();
  const running = runAmqpConsumer({
    amqpUrl: AMQP_URL,
    consumer,
    concurrency,
    signal: controller.signal,
    retryDelaysMs,
    logger: capturingLogger((message) => {
      if (process.env.DEBUG_FANOUT) console.error(message);
      if (message.includes("consuming")) consuming();
    }),
    onOutcome: (outcome) => outcomes.push(outcome),
  });
  return {
    consuming: ready,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

test.serial(
  "a consumer with concurrency 4 handles four messages at once, each once, and acknowledges every one",
  async (t) => {
    const { store, category } = t.context;
    let active = 0;
    let mostAtOnce = 0;
    const handled: string[] = [];
    const consumer: EventConsumer = {
      name: `test-${category}`,
      eventTypes: new Set([`Tested_${category}`]),
      async handle(recorded) {
        active += 1;
        mostAtOnce = Math.max(mostAtOnce, active);
        await sleep(100);
        active -= 1;
        handled.push(recorded.id);
      },
    };
    const outcomes: ConsumerOutcome[] = [];
    const running = startConsumer(t, consumer, outcomes, 4);
    await running.consuming;
    const relay = startRelay(t);
    for (let index = 0; index < 12; index += 1) {
      await store.append(`${category}-${index}`, "any", [event(`Tested_${category}`)]);
    }
    await until(() => handled.length === 12, 10_000, "twelve messages");
    await relay.stop();
    await running.stop();
    t.is(mostAtOnce, 4);
    t.is(new Set(handled).size, 12);
    t.deepEqual(outcomes, Array<ConsumerOutcome>(12).fill("ok"));
    // Nothing left unacknowledged: the queue is empty once the consumer has gone.
    const { messageCount } = await t.context.channel.checkQueue(`tidemark.test-${category}`);
    t.is(messageCount, 0);
  },
);

test.serial(
  "a consumer's failures go round the TTL retry queues, with growing delays, until it succeeds",
  async (t) => {
    const { store, category } = t.context;
    const { consumer, attempts, handled } = flakyConsumer(t, (attempt) => attempt <= 2);
    const outcomes: ConsumerOutcome[] = [];
    const running = startConsumer(t, consumer, outcomes);
    await running.consuming;
    const relay = startRelay(t);
    const startedAt = Date.now();
    const { position } = await store.append(`${category}-1`, "any", [event(`Tested_${category}`)]);
    await until(() => handled.length === 1, 10_000, "the third attempt");
    const tookMs = Date.now() - startedAt;
    await relay.stop();
    await running.stop();
    t.truthy(position);
    t.deepEqual(outcomes, ["retry", "retry", "ok"]);
    t.is([...attempts.values()][0], 3);
    t.true(tookMs >= 400, `waited the retry delays (100 + 300 ms), took ${tookMs} ms`);
  },
);

test.serial(
  "after its last attempt a poison message lands in the dead-letter queue with the error; the CLI's calls list it and hand it back",
  async (t) => {
    const { store, category } = t.context;
    const broken = { now: true };
    const { consumer, attempts, handled } = flakyConsumer(t, () => broken.now);
    const outcomes: ConsumerOutcome[] = [];
    const running = startConsumer(t, consumer, outcomes);
    await running.consuming;
    const relay = startRelay(t);
    const { position } = await store.append(`${category}-1`, "any", [event(`Tested_${category}`)]);
    await until(() => outcomes.includes("dead"), 10_000, "the dead letter");
    await relay.stop();
    t.deepEqual(outcomes, ["retry", "retry", "dead"]);
    t.is([...attempts.values()][0], 3);
    // Listing looks without taking: twice the same answer.
    const listed = await listAmqpDeadLetters(AMQP_URL, [consumer.name, "no-such-consumer"]);
    t.deepEqual(await listAmqpDeadLetters(AMQP_URL, [consumer.name]), listed);
    t.is(listed.length, 1);
    t.like(listed[0], {
      consumer: consumer.name,
      eventType: `Tested_${category}`,
      position,
      attempts: 3,
      error: "refused attempt 3",
    });
    t.false(Number.isNaN(listed[0]?.failedAt.getTime()));
    // Fixed, and handed back: handled once, and the dead-letter queue is empty.
    broken.now = false;
    t.is(await requeueAmqpDeadLetters(AMQP_URL, consumer.name, ["00000000-0000-4000-8000-000000000000"]), 0);
    t.is(await requeueAmqpDeadLetters(AMQP_URL, consumer.name, "all"), 1);
    await until(() => handled.length === 1, 10_000, "the requeued message");
    await running.stop();
    t.deepEqual(await listAmqpDeadLetters(AMQP_URL, [consumer.name]), []);
    const dead = await t.context.channel.get(`tidemark.${consumer.name}.dead`, { noAck: true });
    t.false(dead);
  },
);
