import amqp, { type ChannelModel, type GetMessage } from "amqplib";
import { closeConnection, CONNECT_OPTIONS, consumerQueues, DEFAULT_RETRY_DELAYS_MS } from "./amqpTopology.ts";
import type { DeadLetter } from "./DeadLetters.ts";
import { fromEventMessageBody, messagePriority } from "./eventMessage.ts";
import { ATTEMPT_HEADER, ERROR_HEADER, FAILED_AT_HEADER } from "./runAmqpConsumer.ts";

/**
 * The dead letters in each consumer's `tidemark.<name>.dead` queue, without taking them out: each
 * message is fetched and, once all are read, put back (RabbitMQ requeues in the original order).
 * A consumer whose queue does not exist yet has none. At most `limit` per consumer.
 */
export async function listAmqpDeadLetters(
  amqpUrl: string,
  consumers: readonly string[],
  limit = 10_000,
): Promise<DeadLetter[]> {
  const connection = await amqp.connect(amqpUrl, CONNECT_OPTIONS);
  connection.on("error", () => undefined);
  try {
    const letters: DeadLetter[] = [];
    for (const consumer of consumers) {
      // A missing queue closes the channel (404): one channel per consumer.
      const channel = await connection.createChannel();
      channel.on("error", () => undefined);
      const { dead } = consumerQueues(consumer, DEFAULT_RETRY_DELAYS_MS);
      try {
        await channel.checkQueue(dead);
      } catch {
        continue;
      }
      for (let count = 0; count < limit; count += 1) {
        const message = await channel.get(dead, { noAck: false });
        if (message === false) break;
        letters.push(deadLetterOf(consumer, message));
      }
      channel.nackAll(true);
      await channel.close();
    }
    return letters;
  } finally {
    await closeConnection(connection);
  }
}

/** How many messages wait in each consumer's dead-letter queue (a queue not declared yet: 0). */
export async function countAmqpDeadLetters(
  amqpUrl: string,
  consumers: readonly string[],
): Promise<Map<string, number>> {
  const connection = await amqp.connect(amqpUrl, CONNECT_OPTIONS);
  connection.on("error", () => undefined);
  try {
    const counts = new Map<string, number>();
    for (const consumer of consumers) {
      const channel = await connection.createChannel();
      channel.on("error", () => undefined);
      try {
        counts.set(
          consumer,
          (await channel.checkQueue(consumerQueues(consumer, DEFAULT_RETRY_DELAYS_MS).dead)).messageCount,
        );
        await channel.close();
      } catch {
        counts.set(consumer, 0); // a missing queue closes the channel (404)
      }
    }
    return counts;
  } finally {
    await closeConnection(connection);
  }
}

/**
 * Moves dead letters of `consumer` (all, or those with the given event ids) back to its main
 * queue with a fresh attempt count and their priority; each is acknowledged on the dead queue only
 * once the broker confirmed its re-publication into that queue. Returns how many were moved.
 *
 * The main queue is the consumer's priority queue when there is one, else its
 * first-in-first-out queue: the CLI knows consumers by name only, and during an upgrade either
 * may be the one consumed. A queue that is not there (the consumer never started, or another
 * replica deleted a replaced queue just now) refuses the message rather than dropping it.
 *
 * @throws Error when the main queue is missing: the dead letters stay where they were.
 */
export async function requeueAmqpDeadLetters(
  amqpUrl: string,
  consumer: string,
  eventIds: readonly string[] | "all",
): Promise<number> {
  const wanted = eventIds === "all" ? undefined : new Set(eventIds);
  const connection = await amqp.connect(amqpUrl, CONNECT_OPTIONS);
  connection.on("error", () => undefined);
  try {
    const main = await mainQueueOf(connection, consumer);
    const channel = await connection.createConfirmChannel();
    const { dead } = consumerQueues(consumer, DEFAULT_RETRY_DELAYS_MS);
    await channel.checkQueue(dead);
    // Routed nowhere (a mandatory message to a missing queue): returned before its confirm.
    const returned = new Set<string>();
    channel.on("return", (message: GetMessage) => returned.add(String(message.properties.messageId ?? "")));
    let moved = 0;
    for (;;) {
      const message = await channel.get(dead, { noAck: false });
      if (message === false) break;
      const eventId = String(message.properties.messageId ?? "");
      if (wanted !== undefined && !wanted.has(eventId)) continue; // put back below
      const headers = {
        ...Object.fromEntries(
          Object.entries(message.properties.headers ?? {}).filter(
            ([name]) => name !== ERROR_HEADER && name !== FAILED_AT_HEADER,
          ),
        ),
        [ATTEMPT_HEADER]: 1,
      };
      channel.sendToQueue(main, message.content, {
        ...message.properties,
        headers,
        persistent: true,
        mandatory: true,
        priority: (message.properties.priority as number | undefined) ?? priorityOfBody(message.content),
      });
      await channel.waitForConfirms();
      if (returned.has(eventId)) {
        throw new Error(
          `queue ${main} is not there (has ${consumer} started?): dead letter ${eventId} left in ${dead}`,
        );
      }
      channel.ack(message);
      moved += 1;
    }
    channel.nackAll(true);
    await channel.close();
    return moved;
  } finally {
    await closeConnection(connection);
  }
}

/** The consumer's priority queue if it has one, else its first-in-first-out queue. */
async function mainQueueOf(connection: ChannelModel, consumer: string): Promise<string> {
  const prioritised = consumerQueues(consumer, [], { priorityQueue: true }).main;
  const channel = await connection.createChannel();
  channel.on("error", () => undefined);
  try {
    await channel.checkQueue(prioritised);
    await channel.close();
    return prioritised;
  } catch {
    return consumerQueues(consumer, []).main; // a missing queue closed the channel (404)
  }
}

/** A dead letter from before priorities were published gets the one its event has now. */
function priorityOfBody(body: Buffer): number | undefined {
  try {
    return messagePriority(fromEventMessageBody(body));
  } catch {
    return undefined; // not an event: no priority
  }
}

function deadLetterOf(consumer: string, message: GetMessage): DeadLetter {
  const headers = message.properties.headers ?? {};
  const failedAt = new Date(String(headers[FAILED_AT_HEADER] ?? ""));
  return {
    consumer,
    eventId: String(message.properties.messageId ?? ""),
    eventType: String(message.properties.type ?? ""),
    streamId: String(headers["x-stream-id"] ?? ""),
    position: String(headers["x-position"] ?? ""),
    attempts: Number(headers[ATTEMPT_HEADER] ?? 0),
    error: String(headers[ERROR_HEADER] ?? ""),
    failedAt,
    // A requeued message leaves the dead queue at once.
    requeuedAt: null,
  };
}
