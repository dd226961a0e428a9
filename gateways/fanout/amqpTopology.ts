import type { Channel, ChannelModel } from "amqplib";
import type { EventConsumer } from "./EventConsumer.ts";

/** Where every event is published: a durable topic exchange. */
export const EVENTS_EXCHANGE = "tidemark.events";

/** The growing delays between a consumer's attempts (default): 1 s, 5 s, 30 s, then dead. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 5_000, 30_000];

/** The queues of one consumer. */
export interface ConsumerQueues {
  /** Bound to the exchange by `*.<type>` for each of the consumer's event types. */
  readonly main: string;
  /** One per delay: a message waits there for its TTL, then is dead-lettered back to `main`. */
  readonly retries: readonly { readonly queue: string; readonly delayMs: number }[];
  /** Where a message lands after its last attempt, with the error in its headers. */
  readonly dead: string;
}

export function consumerQueues(consumerName: string, retryDelaysMs: readonly number[]): ConsumerQueues {
  const main = `tidemark.${consumerName}`;
  return {
    main,
    retries: retryDelaysMs.map((delayMs) => ({ queue: `${main}.retry.${delayMs}ms`, delayMs })),
    dead: `${main}.dead`,
  };
}

/** Declares the exchange (idempotent; what the relay needs before it publishes). */
export async function declareExchange(channel: Channel): Promise<void> {
  await channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
}

/**
 * Declares a consumer's queues and bindings, idempotently: topology lives in code, so a fresh
 * broker (or one that lost its definitions) is set up by the first process that starts.
 * A queue level TTL per delay (not a per-message one) keeps expiry in order within each queue.
 */
export async function declareConsumerQueues(
  channel: Channel,
  consumer: EventConsumer,
  retryDelaysMs: readonly number[],
): Promise<ConsumerQueues> {
  const queues = consumerQueues(consumer.name, retryDelaysMs);
  await declareExchange(channel);
  await channel.assertQueue(queues.main, { durable: true });
  for (const type of consumer.eventTypes) await channel.bindQueue(queues.main, EVENTS_EXCHANGE, `*.${type}`);
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
