import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { keepTheBrokerUpDuring } from "../../test/brokerRestarts.ts";
import amqp, { type Channel, type ChannelModel, type Options } from "amqplib";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import { capturingLogger } from "../../test/capturingLogger.ts";
import { createIsolatedVirtualHost } from "../../test/isolatedServices.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { event } from "../eventStore/eventStoreContract.ts";
import { positionOf } from "../eventStore/Position.ts";
import { listAmqpDeadLetters, requeueAmqpDeadLetters } from "./amqpDeadLetters.ts";
import {
  closeConnection,
  CONNECT_OPTIONS,
  consumerQueues,
  type ConsumerQueues,
  declareConsumerQueues,
  EVENTS_EXCHANGE,
} from "./amqpTopology.ts";
import { toEventMessage } from "./eventMessage.ts";
import type { EventConsumer } from "./EventConsumer.ts";
import { FanoutCheckpoints } from "./FanoutCheckpoints.ts";
import { ATTEMPT_HEADER, ERROR_HEADER, runAmqpConsumer, type ConsumerOutcome } from "./runAmqpConsumer.ts";
import { runAmqpRelay } from "./runAmqpRelay.ts";

type Context = TestEventStore & {
  checkpoints: FanoutCheckpoints;
  /** A RabbitMQ virtual host of this test's own: queue names as in production, no one else's. */
  amqpUrl: string;
  dropVirtualHost: (log: (message: string) => void) => Promise<void>;
  connection: ChannelModel;
  /** Stopped at the end, last started first. */
  stops: (() => Promise<void>)[];
};
const test = anyTest as TestFn<Context>;
keepTheBrokerUpDuring(test);

const CONSUMER = "sms-gateway";
// The longest is long enough that a message waiting there comes back after the old queue is empty.
const RETRY_DELAYS_MS = [100, 2000];

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.checkpoints = new FanoutCheckpoints(
    t.context.database.pool,
    `${t.context.database.schema}_fanout`,
  );
  await t.context.checkpoints.migrate();
  const vhost = await createIsolatedVirtualHost(`tidemark_priority_${randomBytes(4).toString("hex")}`);
  t.context.amqpUrl = vhost.amqpUrl;
  t.context.dropVirtualHost = (log) => vhost.drop(log);
  t.context.connection = await amqp.connect(vhost.amqpUrl, CONNECT_OPTIONS);
  t.context.connection.on("error", () => undefined);
  t.context.stops = [];
});

test.afterEach.always(async (t) => {
  for (const stop of t.context.stops.reverse()) await stop();
  await closeConnection(t.context.connection);
  await t.context.dropVirtualHost((message) => t.log(message));
  await t.context.dispose([`${t.context.database.schema}_fanout`]);
});

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

/** A channel for one step that may be refused (a refusal closes its channel). */
async function withChannel<Result>(
  t: { context: Context },
  work: (channel: Channel) => Promise<Result>,
): Promise<Result> {
  const channel = await t.context.connection.createChannel();
  channel.on("error", () => undefined);
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** The ready messages in `queue`, or undefined when it does not exist. */
function depth(t: { context: Context }, queue: string): Promise<number | undefined> {
  return withChannel(t, async (channel) => (await channel.checkQueue(queue)).messageCount).catch(
    () => undefined,
  );
}

/** Starts the relay; the returned stop (also called at the end) may be called more than once. */
function startRelay(t: { context: Context }): () => Promise<void> {
  const controller = new AbortController();
  const running = runAmqpRelay({
    pool: t.context.database.pool,
    store: t.context.store,
    checkpoints: t.context.checkpoints,
    amqpUrl: t.context.amqpUrl,
    signal: controller.signal,
    logger: capturingLogger(() => undefined),
    reconnectDelayMs: { first: 100, longest: 1000 },
  });
  const stop = async () => {
    controller.abort();
    await running;
  };
  t.context.stops.push(stop);
  return stop;
}

/** `NotificationRequested` of each class in order, each on a stream of its own; their ids. */
async function request(t: { context: Context }, classes: readonly MessageClass[]): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < classes.length; index += 50) {
    const chunk = classes.slice(index, index + 50).map((messageClass) => {
      const notificationId = randomUUID();
      return { notificationId, appended: event("NotificationRequested", { notificationId, messageClass }) };
    });
    // In order: the log's order is the publishing order.
    for (const { notificationId, appended } of chunk) {
      await t.context.store.append(`notification-${notificationId}`, "no_stream", [appended]);
      ids.push(appended.id);
    }
  }
  return ids;
}

/** A consumer of `NotificationRequested` on a priority queue, as the SMS gateway declares it. */
function recordingConsumer(
  handle: (event: RecordedEvent, attempt: number) => Promise<void> = () => Promise.resolve(),
): { consumer: EventConsumer; handled: RecordedEvent[]; attempts: Map<string, number> } {
  const handled: RecordedEvent[] = [];
  const attempts = new Map<string, number>();
  return {
    handled,
    attempts,
    consumer: {
      name: CONSUMER,
      eventTypes: new Set(["NotificationRequested"]),
      priorityQueue: true,
      async handle(recorded) {
        const attempt = (attempts.get(recorded.id) ?? 0) + 1;
        attempts.set(recorded.id, attempt);
        await handle(recorded, attempt);
        handled.push(recorded);
      },
    },
  };
}

/** Runs `consumer` with prefetch 1, as one replica; resolves when it consumes, with its stop. */
async function startConsumer(
  t: { context: Context },
  consumer: EventConsumer,
  options: { readonly log?: string[]; readonly outcomes?: ConsumerOutcome[] } = {},
): Promise<() => Promise<void>> {
  const controller = new AbortController();
  let consuming!: () => void;
  const ready = new Promise<void>((resolve) => (consuming = resolve));
  const running = runAmqpConsumer({
    amqpUrl: t.context.amqpUrl,
    consumer,
    signal: controller.signal,
    retryDelaysMs: RETRY_DELAYS_MS,
    prefetch: 1,
    drainPollMs: 100,
    logger: capturingLogger((message) => {
      if (process.env.DEBUG_FANOUT) console.error(message);
      options.log?.push(message);
      if (message.includes(": consuming ")) consuming();
    }),
    onOutcome: (outcome) => options.outcomes?.push(outcome),
    reconnectDelayMs: { first: 100, longest: 1000 },
  });
  const stop = async () => {
    controller.abort();
    await running;
  };
  t.context.stops.push(stop);
  await ready;
  return stop;
}

/** Declares the consumer's queues, consuming nothing: what is published waits there. */
async function declareOnly(t: { context: Context }, consumer: EventConsumer): Promise<string> {
  return withChannel(
    t,
    async (channel) => (await declareConsumerQueues(channel, consumer, RETRY_DELAYS_MS)).main,
  );
}

test.serial(
  "a service alert that failed comes back from the retry queue ahead of the offers still waiting; dead-lettered and requeued, likewise",
  async (t) => {
    const offers = 300;
    // Attempts each service alert is refused; offers take 5 ms each, 1.5 s in all: far longer
    // than the retry delays, so a retried alert that lost its priority would come back last.
    const refusals = new Map<string, number>();
    const { consumer, handled, attempts } = recordingConsumer(async (recorded, attempt) => {
      if (attempt <= (refusals.get(recorded.id) ?? 0)) throw new Error(`refused attempt ${attempt}`);
      await sleep(5);
    });
    const main = await declareOnly(t, consumer);
    t.is(main, "tidemark.sms-gateway.prioritised");
    startRelay(t);
    const [retried, dead] = await request(t, ["service", "service"]);
    if (retried === undefined || dead === undefined) throw new Error("no requests");
    refusals.set(retried, 1).set(dead, Number.POSITIVE_INFINITY);
    await request(t, Array<MessageClass>(offers).fill("marketing"));
    await until(async () => (await depth(t, main)) === offers + 2, 20_000, "every request queued");

    const outcomes: ConsumerOutcome[] = [];
    const stopConsumer = await startConsumer(t, consumer, { outcomes });
    await until(() => handled.some((recorded) => recorded.id === retried), 20_000, "the retried alert");
    const offersBefore = handled.findIndex((recorded) => recorded.id === retried);
    t.is(attempts.get(retried), 2);
    t.true(offersBefore < offers / 2, `handled after ${offersBefore} of ${offers} offers`);

    // The other went round every retry queue to the dead letters, its priority with it.
    await until(() => outcomes.includes("dead"), 20_000, "the dead letter");
    const letter = await withChannel(t, (channel) =>
      channel.get("tidemark.sms-gateway.dead", { noAck: false }),
    ); // not acknowledged: back in the queue when the channel closes
    t.is(letter === false ? undefined : letter.properties.priority, 1);
    await until(() => handled.length === offers + 1, 20_000, "every offer");

    // Requeued behind a new burst of offers, nobody consuming meanwhile: it goes first again.
    await stopConsumer();
    refusals.set(dead, 0);
    await request(t, Array<MessageClass>(100).fill("marketing"));
    await until(async () => (await depth(t, main)) === 100, 20_000, "the new offers queued");
    t.is(await requeueAmqpDeadLetters(t.context.amqpUrl, CONSUMER, "all"), 1);
    const before = handled.length;
    await startConsumer(t, consumer);
    await until(() => handled.length === before + 101, 20_000, "the requeued alert and the offers");
    t.is(handled[before]?.id, dead, "the requeued service alert first");
  },
);

/** The topology of a deployment from before priority queues: a first-in-first-out main queue. */
async function declareAsBefore(t: { context: Context }): Promise<ConsumerQueues> {
  const queues = consumerQueues(CONSUMER, RETRY_DELAYS_MS);
  await withChannel(t, async (channel) => {
    await channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
    await channel.assertQueue(queues.main, { durable: true });
    await channel.bindQueue(queues.main, EVENTS_EXCHANGE, "*.NotificationRequested");
    for (const retry of queues.retries) {
      await channel.assertQueue(retry.queue, {
        durable: true,
        arguments: {
          "x-message-ttl": retry.delayMs,
          "x-dead-letter-exchange": "",
          "x-dead-letter-routing-key": queues.main,
        },
      });
    }
    await channel.assertQueue(queues.dead, { durable: true });
  });
  return queues;
}

/** A request's message as the relay publishes it, for putting straight into a queue. */
function requestMessage(messageClass: MessageClass): { id: string; body: Buffer; options: Options.Publish } {
  const notificationId = randomUUID();
  const recorded: RecordedEvent = {
    ...event("NotificationRequested", { notificationId, messageClass }),
    streamId: `notification-${notificationId}`,
    revision: 0,
    position: positionOf(1n, 0n),
    recordedAt: new Date(),
  };
  const { body, options } = toEventMessage(recorded);
  return { id: recorded.id, body, options };
}

test.serial(
  "a deployment from before: two replicas starting at once handle every message of the old queue and of its retry queue once, delete the old queues, and new requests land in the new queue only",
  async (t) => {
    const before = await declareAsBefore(t);
    const longestRetry = before.retries.at(-1);
    if (longestRetry === undefined) throw new Error("no retry queue");
    startRelay(t);
    // Queued by the deployment from before: requests, one waiting out its retry delay (2 s), and
    // a dead letter.
    const queued = await request(t, [
      ...Array<MessageClass>(150).fill("marketing"),
      ...Array<MessageClass>(5).fill("service"),
    ]);
    await until(async () => (await depth(t, before.main)) === 155, 20_000, "the old queue filled");
    const waiting = requestMessage("service");
    const deadLetter = requestMessage("marketing");
    await withChannel(t, async (channel) => {
      channel.sendToQueue(longestRetry.queue, waiting.body, {
        ...waiting.options,
        headers: { ...(waiting.options.headers as Record<string, unknown>), [ATTEMPT_HEADER]: 2 },
      });
      channel.sendToQueue(before.dead, deadLetter.body, {
        ...deadLetter.options,
        headers: {
          ...(deadLetter.options.headers as Record<string, unknown>),
          [ATTEMPT_HEADER]: 3,
          [ERROR_HEADER]: "refused",
        },
      });
      await channel.checkQueue(before.dead); // a round trip: both are in
    });

    const { consumer, handled } = recordingConsumer(() => sleep(2));
    const logs: [string[], string[]] = [[], []];
    await Promise.all(logs.map((log) => startConsumer(t, consumer, { log })));
    // Once one replica drains the old queue it is unbound: what is published now goes to the new one.
    await until(() => logs.flat().some((line) => line.includes("draining")), 10_000, "the drain");
    const published = await request(t, Array<MessageClass>(20).fill("service"));
    const expected = [...queued, waiting.id, ...published];
    await until(() => handled.length >= expected.length, 30_000, "every message handled");
    await until(
      async () =>
        (
          await Promise.all(
            [before.main, ...before.retries.map((retry) => retry.queue)].map((queue) => depth(t, queue)),
          )
        ).every((left) => left === undefined),
      10_000,
      "the old queues deleted",
    );
    const later = await request(t, Array<MessageClass>(10).fill("marketing"));
    await until(() => handled.length >= expected.length + later.length, 10_000, "the later requests");
    await sleep(300); // a duplicate would arrive by now

    const counts = new Map<string, number>();
    for (const recorded of handled) counts.set(recorded.id, (counts.get(recorded.id) ?? 0) + 1);
    t.deepEqual([...counts.keys()].sort(), [...expected, ...later].sort(), "every message handled");
    t.deepEqual(
      [...counts.values()].filter((count) => count !== 1),
      [],
      "each handled exactly once",
    );
    t.is(
      logs.flat().filter((line) => line.includes("drained and deleted")).length,
      1,
      "one replica drained and deleted the old queues; the other found them gone",
    );
    t.is(await depth(t, "tidemark.sms-gateway.prioritised"), 0);
    // The dead letter of the deployment from before is where the CLI looks.
    const letters = await listAmqpDeadLetters(t.context.amqpUrl, [CONSUMER]);
    t.deepEqual(
      letters.map((letter) => letter.eventId),
      [deadLetter.id],
    );
  },
);

test.serial(
  "a requeue goes to whichever main queue is there, and with none there it is refused and the dead letter stays",
  async (t) => {
    const { dead } = consumerQueues(CONSUMER, RETRY_DELAYS_MS);
    const letter = requestMessage("service");
    await withChannel(t, async (channel) => {
      await channel.assertQueue(dead, { durable: true });
      channel.sendToQueue(dead, letter.body, letter.options);
      await channel.checkQueue(dead);
    });
    await t.throwsAsync(requeueAmqpDeadLetters(t.context.amqpUrl, CONSUMER, "all"), {
      message: /queue tidemark\.sms-gateway is not there/,
    });
    t.deepEqual(
      (await listAmqpDeadLetters(t.context.amqpUrl, [CONSUMER])).map((listed) => listed.eventId),
      [letter.id],
    );
    // A deployment from before, not upgraded yet: into its first-in-first-out queue.
    await declareAsBefore(t);
    t.is(await requeueAmqpDeadLetters(t.context.amqpUrl, CONSUMER, "all"), 1);
    t.is(await depth(t, "tidemark.sms-gateway"), 1);
    // Upgraded: into the priority queue, the priority kept.
    const { consumer } = recordingConsumer();
    await declareOnly(t, consumer);
    await withChannel(t, async (channel) => {
      channel.sendToQueue(dead, letter.body, letter.options);
      await channel.checkQueue(dead);
    });
    t.is(await requeueAmqpDeadLetters(t.context.amqpUrl, CONSUMER, "all"), 1);
    const requeued = await withChannel(t, (channel) =>
      channel.get("tidemark.sms-gateway.prioritised", { noAck: true }),
    );
    t.is(requeued === false ? undefined : requeued.properties.priority, 1);
  },
);

test.serial(
  "a gateway from before still consuming the old queue keeps it: the new one waits, and drains and deletes it once that one has stopped",
  async (t) => {
    const before = await declareAsBefore(t);
    startRelay(t);
    const queued = await request(t, Array<MessageClass>(60).fill("marketing"));
    await until(async () => (await depth(t, before.main)) === 60, 20_000, "the old queue filled");
    // The gateway from before: one message at a time, slowly.
    const handledBefore: string[] = [];
    const old = await amqp.connect(t.context.amqpUrl, CONNECT_OPTIONS);
    t.context.stops.push(() => closeConnection(old));
    const oldChannel = await old.createChannel();
    await oldChannel.prefetch(1);
    await oldChannel.consume(before.main, (message) => {
      if (message === null) return;
      setTimeout(() => {
        try {
          oldChannel.ack(message);
          handledBefore.push(String(message.properties.messageId));
        } catch {
          // stopped meanwhile: the message went back to the queue
        }
      }, 20);
    });
    await until(() => handledBefore.length >= 5, 10_000, "the old gateway at work");

    const { consumer, handled } = recordingConsumer();
    const log: string[] = [];
    await startConsumer(t, consumer, { log });
    await until(() => log.some((line) => line.includes("consumed elsewhere")), 10_000, "the new one waiting");
    await sleep(500);
    t.false(
      log.some((line) => line.includes("draining")),
      "no drain beside a consumer from before",
    );
    t.not(await depth(t, before.main), undefined, "the old queue kept");

    await closeConnection(old); // its unacknowledged message goes back to the queue
    await until(() => log.some((line) => line.includes("drained and deleted")), 20_000, "the drain");
    const ids = [...handledBefore, ...handled.map((recorded) => recorded.id)];
    t.deepEqual([...ids].sort(), [...queued].sort(), "every message handled once, by one or the other");
  },
);
