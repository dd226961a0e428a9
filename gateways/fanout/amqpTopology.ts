import type { Channel, ChannelModel } from "amqplib";
import type { EventConsumer } from "./EventConsumer.ts";

/** Where every event is published: a durable topic exchange. */
export const EVENTS_EXCHANGE = "tidemark.events";

/** The growing delays between a consumer's attempts (default): 1 s, 5 s, 30 s, then dead. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 5_000, 30_000];

/**
 * A priority queue's `x-max-priority`: fixed, since a deployed queue's arguments cannot change
 * (declaring it with another value fails). The relay's priorities (`messagePriority`) reach
 * `HIGHEST_DELIVERY_PRIORITY`; a message above a queue's maximum counts as the maximum, so a
 * class added above it would rank with service alerts until queues with a higher one exist —
 * under new names, like `PRIORITY_QUEUE_SUFFIX` (a unit test holds the two together).
 */
export const MAX_MESSAGE_PRIORITY = 1;

/**
 * Ends the name of a priority queue's main queue: `tidemark.<name>.prioritised`. A durable queue's
 * arguments cannot change (declaring `tidemark.<name>` again with `x-max-priority` fails with
 * PRECONDITION_FAILED and closes the channel), so a consumer that turned to a priority queue
 * needed a queue of a new name, and new retry queues that dead-letter into it.
 */
export const PRIORITY_QUEUE_SUFFIX = ".prioritised";

/** The queues of one consumer. */
export interface ConsumerQueues {
  /** Bound to the exchange by `*.<type>` for each of the consumer's event types. */
  readonly main: string;
  /** Its `x-max-priority` when the main queue is a priority queue; 0 when first in, first out. */
  readonly maxPriority: number;
  /** One per delay: a message waits there for its TTL, then is dead-lettered back to `main`. */
  readonly retries: readonly { readonly queue: string; readonly delayMs: number }[];
  /** Where a message lands after its last attempt, with the error in its headers. */
  readonly dead: string;
  /**
   * A priority queue's first-in-first-out forerunners (`tidemark.<name>` and its retry queues,
   * which dead-letter into it), where a deployment from before may have left messages: the
   * consumer drains and deletes them (`drainReplacedQueues`). Null for a first-in-first-out queue.
   */
  readonly replaced: { readonly main: string; readonly retries: readonly string[] } | null;
}

/**
 * The queue names of consumer `consumerName`. `tidemark.<name>.dead` keeps its name whether or not
 * the main queue is a priority queue: it has no arguments to change, nothing dead-letters into it
 * by name (the consumer sends to it), and the dead-letter CLI, the query API and the dead-letter
 * gauge find it by the consumer's name alone — so the dead letters of a deployment from before
 * stay where every tool looks, and a requeue sends them to whichever main queue is there.
 */
export function consumerQueues(
  consumerName: string,
  retryDelaysMs: readonly number[],
  options: { readonly priorityQueue?: boolean } = {},
): ConsumerQueues {
  const fifo = `tidemark.${consumerName}`;
  const main = options.priorityQueue === true ? `${fifo}${PRIORITY_QUEUE_SUFFIX}` : fifo;
  const retriesOf = (queue: string) =>
    retryDelaysMs.map((delayMs) => ({ queue: `${queue}.retry.${delayMs}ms`, delayMs }));
  return {
    main,
    maxPriority: options.priorityQueue === true ? MAX_MESSAGE_PRIORITY : 0,
    retries: retriesOf(main),
    dead: `${fifo}.dead`,
    replaced: main === fifo ? null : { main: fifo, retries: retriesOf(fifo).map((retry) => retry.queue) },
  };
}

/** Declares the exchange (idempotent; what the relay needs before it publishes). */
export async function declareExchange(channel: Channel): Promise<void> {
  await channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
}

/** What names a consumer's main queue and binds it: all the relay needs to know of a consumer. */
export type ConsumerBinding = Pick<EventConsumer, "name" | "eventTypes" | "priorityQueue">;

/**
 * Declares a consumer's main queue and binds it to its event types, idempotently (the exchange
 * too). The relay does so for every consumer before it publishes: a message that finds no queue
 * bound is dropped by RabbitMQ, so an event relayed before its consumer first started (a fresh
 * broker over a log that has events, or a consumer new in this version) would never reach it.
 */
export async function declareMainQueue(
  channel: Channel,
  consumer: ConsumerBinding,
  queues: ConsumerQueues = consumerQueues(consumer.name, [], {
    priorityQueue: consumer.priorityQueue === true,
  }),
): Promise<void> {
  await declareExchange(channel);
  await channel.assertQueue(queues.main, {
    durable: true,
    ...(queues.maxPriority > 0 ? { maxPriority: queues.maxPriority } : {}),
  });
  for (const type of consumer.eventTypes) await channel.bindQueue(queues.main, EVENTS_EXCHANGE, `*.${type}`);
}

/**
 * Declares every consumer's main queue (`declareMainQueue`), each on a channel of its own: a
 * queue RabbitMQ refuses to declare as asked (PRECONDITION_FAILED: it exists with other
 * arguments, e.g. declared by hand or by another version) is reported to `onRefused` and left as
 * it is (its bindings, if any, still route), and the others are still declared. A refusal closes
 * only its channel; one on the relay's publishing channel would stop the whole fan-out.
 */
export async function declareMainQueues(
  connection: ChannelModel,
  consumers: readonly ConsumerBinding[],
  onRefused: (consumer: ConsumerBinding, error: unknown) => void,
): Promise<void> {
  for (const consumer of consumers) {
    const channel = await connection.createChannel();
    channel.on("error", () => undefined); // the refusal is the declaration's rejection
    try {
      await declareMainQueue(channel, consumer);
      await channel.close();
    } catch (error) {
      onRefused(consumer, error);
    }
  }
}

/**
 * Declares a consumer's queues and bindings, idempotently: topology lives in code, so a fresh
 * broker (or one that lost its definitions) is set up by the first process that starts.
 * A queue level TTL per delay (not a per-message one) keeps expiry in order within each queue.
 * Retry queues are never priority queues: RabbitMQ expires messages only at a queue's head, so in
 * a priority queue a lower message would be stuck behind higher ones past its delay. Dead-lettering
 * keeps a message's priority, which counts again once it is back in the main queue.
 */
export async function declareConsumerQueues(
  channel: Channel,
  consumer: ConsumerBinding,
  retryDelaysMs: readonly number[],
): Promise<ConsumerQueues> {
  const queues = consumerQueues(consumer.name, retryDelaysMs, {
    priorityQueue: consumer.priorityQueue === true,
  });
  await declareMainQueue(channel, consumer, queues);
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
  return queues;
}

/**
 * Socket options for every connection: a broker that is starting up may accept the TCP connection
 * and then not answer the handshake; without a timeout the connect would wait forever.
 */
export const CONNECT_OPTIONS = { timeout: 10_000 } as const;

/**
 * Closes a connection without waiting forever: amqplib's close waits for the broker's close-ok,
 * which a broker that restarted under the socket never sends. After `graceMs` the socket is
 * destroyed instead. Never throws.
 */
export async function closeConnection(connection: ChannelModel, graceMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    connection.close().then(
      () => true,
      () => true, // already closed
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
  ]);
  clearTimeout(timer);
  if (!closed) {
    (
      connection as unknown as { connection?: { stream?: { destroy(): void } } }
    ).connection?.stream?.destroy();
  }
}
