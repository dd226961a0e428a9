import { setTimeout as sleep } from "node:timers/promises";
import amqp, { type ConfirmChannel, type ConsumeMessage } from "amqplib";
import {
  closeConnection,
  CONNECT_OPTIONS,
  type ConsumerQueues,
  declareConsumerQueues,
  DEFAULT_RETRY_DELAYS_MS,
} from "./amqpTopology.ts";
import { drainReplacedQueues } from "./drainReplacedQueues.ts";
import { fromEventMessageBody, messagePriority } from "./eventMessage.ts";
import { checkConsumerName, type EventConsumer } from "./EventConsumer.ts";
import type { RecordedEvent } from "../eventStore/EventStore.ts";
import { withEventSpan } from "../observability/traceContext.ts";
import type { Logger } from "pino";

/** What became of one delivery: handled, sent to wait for another attempt, or dead-lettered. */
export type ConsumerOutcome = "ok" | "retry" | "dead";

export interface AmqpConsumerOptions {
  readonly amqpUrl: string;
  readonly consumer: EventConsumer;
  readonly signal: AbortSignal;
  /** Pause before each retry; after the last, the message is dead (default 1 s, 5 s, 30 s). */
  readonly retryDelaysMs?: readonly number[];
  /** Messages the broker may push ahead of the one being handled, one at a time (default 32). */
  readonly prefetch?: number;
  /**
   * Messages handled at once (default 1: in queue order). Above 1, the broker keeps that many
   * unacknowledged messages with this consumer and each is handled as it arrives — for a consumer
   * whose messages are independent and idempotent (the SMS gateway: one notification each).
   */
  readonly concurrency?: number;
  readonly logger: Logger;
  readonly onOutcome?: (outcome: ConsumerOutcome, messageId: string) => void;
  /** First and longest pause before reconnecting (default 200 ms and 10 s, doubling). */
  readonly reconnectDelayMs?: { readonly first: number; readonly longest: number };
  /** How often the queues a priority queue replaced are looked at while they drain (default 1 s). */
  readonly drainPollMs?: number;
}

/** Headers the consumer host writes on messages it re-routes. */
export const ATTEMPT_HEADER = "x-attempt";
export const ERROR_HEADER = "x-error";
export const FAILED_AT_HEADER = "x-failed-at";

/**
 * Runs one consumer on its durable queue (declaring its topology first), one message at a time
 * in queue order (or `concurrency` at once). A consumer with a priority queue also drains the
 * first-in-first-out queues it replaced, beside its own, and deletes them once empty
 * (`drainReplacedQueues`). A message is acknowledged only after `handle` resolved — or after it was
 * re-published, with the broker's confirm, to a retry queue (it comes back after that queue's
 * delay, attempt + 1) or, after the last attempt, to the dead-letter queue with the error. A
 * broker that goes away leaves unacknowledged messages to be redelivered: the consumer is
 * idempotent. Reconnects by itself; returns when `signal` aborts.
 */
export async function runAmqpConsumer(options: AmqpConsumerOptions): Promise<void> {
  checkConsumerName(options.consumer.name);
  const delays = options.reconnectDelayMs ?? { first: 200, longest: 10_000 };
  let delay = delays.first;
  const stopped = () => options.signal.aborted;
  while (!stopped()) {
    try {
      await consumeOverOneConnection(options, () => (delay = delays.first));
    } catch (error) {
      if (stopped()) break;
      options.logger.warn(
        { err: error },
        `consumer ${options.consumer.name}: ${error instanceof Error ? error.message : String(error)}; reconnecting in ${delay} ms`,
      );
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, delays.longest);
    }
  }
}

async function consumeOverOneConnection(
  options: AmqpConsumerOptions,
  onConnected: () => void,
): Promise<void> {
  const connection = await amqp.connect(options.amqpUrl, CONNECT_OPTIONS);
  try {
    const ended = new Promise<void>((resolve, reject) => {
      connection.on("error", () => undefined); // "close" follows with the reason
      connection.on("close", (error: unknown) =>
        reject(
          new Error(`connection to RabbitMQ closed${error instanceof Error ? `: ${error.message}` : ""}`),
        ),
      );
      // A listener added to a signal already aborted never fires: look first.
      if (options.signal.aborted) resolve();
      else options.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    ended.catch(() => undefined);
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => undefined); // "close" follows
    // A channel closed under a live connection delivers nothing more: end the round, reconnect.
    channel.on("close", () => void connection.close().catch(() => undefined));
    const retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const queues = await declareConsumerQueues(channel, options.consumer, retryDelays);
    const concurrency = options.concurrency ?? 1;
    const prefetch = concurrency > 1 ? concurrency : (options.prefetch ?? 32);
    await channel.prefetch(prefetch);
    let inOrder = Promise.resolve();
    const handling = new Set<Promise<void>>();
    const dispatch = (on: ConfirmChannel, message: ConsumeMessage): Promise<void> => {
      const handled =
        concurrency > 1
          ? handleDelivery(options, on, queues, message)
          : (inOrder = inOrder.then(() => handleDelivery(options, on, queues, message)));
      handling.add(handled);
      void handled.finally(() => handling.delete(handled));
      return handled;
    };
    await channel.consume(queues.main, (message) => {
      if (message === null) return; // cancelled by the broker (queue deleted): the close follows
      void dispatch(channel, message);
    });
    options.logger.info(`consumer ${options.consumer.name}: consuming ${queues.main}`);
    onConnected();
    const round = new AbortController();
    const draining =
      queues.replaced === null
        ? Promise.resolve()
        : drainReplacedQueues({
            connection,
            consumerName: options.consumer.name,
            eventTypes: options.consumer.eventTypes,
            replaced: queues.replaced,
            prefetch,
            dispatch,
            signal: round.signal,
            logger: options.logger,
            ...(options.drainPollMs === undefined ? {} : { pollMs: options.drainPollMs }),
          }).catch((error: unknown) => {
            // It retries what fails by itself: only a bug ends up here. The next round drains again.
            options.logger.error(
              { err: error },
              `consumer ${options.consumer.name}: draining the queues it replaced stopped: ${error instanceof Error ? error.message : String(error)}`,
            );
          });
    try {
      await ended;
    } finally {
      round.abort();
    }
    await draining;
    await Promise.all(handling);
  } finally {
    await closeConnection(connection);
  }
}

async function handleDelivery(
  options: AmqpConsumerOptions,
  channel: ConfirmChannel,
  queues: ConsumerQueues,
  message: ConsumeMessage,
): Promise<void> {
  const messageId = String(message.properties.messageId ?? "");
  const attempt = attemptOf(message);
  let event: RecordedEvent | undefined;
  try {
    event = fromEventMessageBody(message.content);
    if (options.consumer.eventTypes.has(event.type)) {
      await withEventSpan(event, `handle ${options.consumer.name}`, (traced) =>
        options.consumer.handle(traced),
      );
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const retry = queues.retries[attempt - 1];
    const headers = { ...message.properties.headers, [ATTEMPT_HEADER]: attempt + 1, [ERROR_HEADER]: reason };
    const properties = {
      ...message.properties,
      headers,
      persistent: true,
      // Kept through the retry queue (dead-lettering keeps it); decided now for a message
      // published before priorities were (it came from the queue a priority queue replaced).
      priority:
        (message.properties.priority as number | undefined) ??
        (event === undefined ? undefined : messagePriority(event)),
    };
    try {
      if (retry === undefined) {
        channel.sendToQueue(queues.dead, message.content, {
          ...properties,
          headers: {
            ...headers,
            [ATTEMPT_HEADER]: attempt,
            [FAILED_AT_HEADER]: new Date().toISOString(),
            "x-consumer": options.consumer.name,
          },
        });
      } else {
        channel.sendToQueue(retry.queue, message.content, properties);
      }
      await channel.waitForConfirms();
      channel.ack(message);
    } catch {
      return; // the channel went: the broker redelivers the message
    }
    options.onOutcome?.(retry === undefined ? "dead" : "retry", messageId);
    if (retry === undefined) {
      options.logger.error(
        `consumer ${options.consumer.name}: message ${messageId} dead after ${attempt} attempts: ${reason}`,
      );
    }
    return;
  }
  try {
    channel.ack(message);
  } catch {
    return; // the channel went: redelivered, and handled again (harmlessly)
  }
  options.onOutcome?.("ok", messageId);
}

function attemptOf(message: ConsumeMessage): number {
  const value = Number(message.properties.headers?.[ATTEMPT_HEADER] ?? 1);
  return Number.isInteger(value) && value >= 1 ? value : 1;
}
