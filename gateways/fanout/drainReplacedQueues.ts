import { setTimeout as sleep } from "node:timers/promises";
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import { EVENTS_EXCHANGE } from "./amqpTopology.ts";

export interface DrainReplacedQueuesOptions {
  readonly connection: ChannelModel;
  /** Whose queues: the name (for the logs) and the event types its old main queue was bound by. */
  readonly consumerName: string;
  readonly eventTypes: ReadonlySet<string>;
  /** The old main queue and its retry queues (`ConsumerQueues.replaced`). */
  readonly replaced: { readonly main: string; readonly retries: readonly string[] };
  /** Unacknowledged messages of the old main queue this process takes at once. */
  readonly prefetch: number;
  /**
   * Hands a delivery of the old main queue to the consumer, as one of its own queue's: resolves
   * once it is acknowledged on `channel`, or re-routed to the new retry or dead-letter queues.
   */
  readonly dispatch: (channel: ConfirmChannel, message: ConsumeMessage) => Promise<void>;
  /** Aborted when the connection's round ends: the drain stops (and runs again next round). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** How often the queues' depths are looked at while draining or waiting (default 1 s). */
  readonly pollMs?: number;
}

/**
 * Moves a consumer off the first-in-first-out queues its priority queue replaced, losing nothing:
 *
 * 1. Unbinds the old main queue from the exchange (the new queue is bound already, so every event
 *    published meanwhile lands in one of them — in both at the moment between, handled twice,
 *    harmlessly: consumers are idempotent). Done again each round: a replica of the deployment
 *    from before binds it again when it reconnects.
 * 2. Consumes the old main queue — exclusively: one replica drains it, and since nobody else can
 *    consume it meanwhile nobody else can hold its messages unacknowledged — until it and the old
 *    retry queues (whose messages dead-letter back into it when their delay ends) are empty and
 *    every delivery is settled. A replica that cannot consume it (another one is draining, or a
 *    replica from before still consumes it) looks again later.
 * 3. Cancels, and deletes the retry queues first (if empty: a message still waiting there keeps
 *    them, and the old main queue it will dead-letter into), then the old main queue (if empty and
 *    unused). RabbitMQ's "if empty" does not count unacknowledged messages: hence the exclusive
 *    consumer, and deletion only once its own deliveries are settled. Deleting a queue another
 *    replica deleted is no error. Anything refused goes round again.
 *
 * Existence and depth are looked at passively on channels of their own, since a failed check
 * closes its channel. Returns once the old queues are gone, or when `signal` aborts.
 */
export async function drainReplacedQueues(options: DrainReplacedQueuesOptions): Promise<void> {
  const { replaced, signal, logger, consumerName } = options;
  const pollMs = options.pollMs ?? 1000;
  const stopped = () => signal.aborted;
  const said = new Set<string>();
  const sayOnce = (message: string, say: (message: string) => void) => {
    if (!said.has(message)) say(message);
    said.add(message);
  };
  while (!stopped()) {
    try {
      const outcome = await drainRound(options, pollMs);
      if (outcome === "gone") return;
      if (outcome === "deleted") {
        logger.info(
          `consumer ${consumerName}: drained and deleted ${[replaced.main, ...replaced.retries].join(", ")}`,
        );
        return;
      }
      if (outcome === "busy") {
        sayOnce(
          `consumer ${consumerName}: ${replaced.main} is consumed elsewhere (another replica drains it, or one from before the priority queue still runs); looking again every ${pollMs} ms`,
          (message) => logger.info(message),
        );
      }
    } catch (error) {
      if (stopped()) return; // the connection went with the round
      sayOnce(
        `consumer ${consumerName}: draining ${replaced.main}: ${error instanceof Error ? error.message : String(error)}; trying again every ${pollMs} ms`,
        (message) => logger.warn(message),
      );
    }
    await sleep(pollMs, undefined, { signal }).catch(() => undefined);
  }
}

/** One look at the old queues, and a drain of them if they are there and nobody else drains. */
async function drainRound(
  options: DrainReplacedQueuesOptions,
  pollMs: number,
): Promise<"gone" | "deleted" | "busy" | "again"> {
  const { connection, replaced } = options;
  const states = await queueStates(connection, [replaced.main, ...replaced.retries]);
  if (states.size === 0) return "gone";
  const main = states.get(replaced.main);
  if (main === undefined) {
    // Retry queues without their main queue would dead-letter into nothing: give them one back
    // (as it was declared: no arguments, unbound), drained next round.
    if ([...states.values()].some((state) => state.messages > 0)) {
      await onChannelOfItsOwn(connection, (channel) => channel.assertQueue(replaced.main, { durable: true }));
      return "again";
    }
    return (await deleteQueues(connection, replaced.retries, { ifEmpty: true })) ? "gone" : "again";
  }
  await onChannelOfItsOwn(connection, async (channel) => {
    for (const type of options.eventTypes) {
      await channel.unbindQueue(replaced.main, EVENTS_EXCHANGE, `*.${type}`);
    }
  });
  // Trying while another consumes it would be refused (and the refusal logged by the broker).
  if (main.consumers > 0) return "busy";
  return drainExclusively(options, pollMs);
}

/** Drains the old main queue as its only consumer, then deletes the old queues. */
async function drainExclusively(
  options: DrainReplacedQueuesOptions,
  pollMs: number,
): Promise<"deleted" | "busy" | "again"> {
  const { connection, replaced, signal } = options;
  const channel = await connection.createConfirmChannel();
  channel.on("error", () => undefined); // "close" follows
  const channelState = { open: true };
  channel.on("close", () => (channelState.open = false));
  const inFlight = new Set<Promise<void>>();
  try {
    await channel.prefetch(options.prefetch);
    let consumerTag: string;
    try {
      ({ consumerTag } = await channel.consume(
        replaced.main,
        (message) => {
          if (message === null) return; // cancelled by the broker: the queue was deleted
          const handled = options.dispatch(channel, message);
          inFlight.add(handled);
          void handled.finally(() => inFlight.delete(handled));
        },
        { exclusive: true },
      ));
    } catch {
      return "busy"; // 403: consumed by another; 404: gone meanwhile (the next look says)
    }
    const depth = (await queueStates(connection, [replaced.main])).get(replaced.main)?.messages ?? 0;
    options.logger.info(
      `consumer ${options.consumerName}: draining ${replaced.main} (${depth} messages), the queue it had before its priority queue`,
    );
    for (;;) {
      await sleep(pollMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted || !channelState.open) return "again";
      const states = await queueStates(connection, [replaced.main, ...replaced.retries]);
      if (!states.has(replaced.main)) return "again";
      const waiting = [...states.values()].reduce((sum, state) => sum + state.messages, 0);
      if (waiting > 0 || inFlight.size > 0) continue;
      await channel.cancel(consumerTag);
      // Delivered between the look and the cancel: settled before anything is deleted.
      await Promise.all(inFlight);
      const deleted =
        (await deleteQueues(connection, replaced.retries, { ifEmpty: true })) &&
        (await deleteQueues(connection, [replaced.main], { ifEmpty: true, ifUnused: true }));
      return deleted ? "deleted" : "again";
    }
  } finally {
    // Acknowledgements need the channel: what is being handled ends first.
    await Promise.all(inFlight);
    if (channelState.open) await channel.close().catch(() => undefined);
  }
}

/** Ready messages and consumers of each of `queues` that exists (a missing one is left out). */
async function queueStates(
  connection: ChannelModel,
  queues: readonly string[],
): Promise<Map<string, { readonly messages: number; readonly consumers: number }>> {
  const states = new Map<string, { readonly messages: number; readonly consumers: number }>();
  for (const queue of queues) {
    const state = await onChannelOfItsOwn(connection, async (channel) => {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { messages: messageCount, consumers: consumerCount };
    });
    if (state !== undefined) states.set(queue, state);
  }
  return states;
}

/** Deletes `queues` in order; false at the first one the broker refuses (not empty, in use). */
async function deleteQueues(
  connection: ChannelModel,
  queues: readonly string[],
  conditions: { readonly ifEmpty?: boolean; readonly ifUnused?: boolean },
): Promise<boolean> {
  for (const queue of queues) {
    const deleted = await onChannelOfItsOwn(connection, async (channel) => {
      await channel.deleteQueue(queue, conditions);
      return true;
    });
    if (deleted === undefined) return false;
  }
  return true;
}

/**
 * Runs `work` on a channel opened for it and closed after: a refused operation (a passive check
 * of a missing queue, a conditional delete) closes its channel, which must not be one in use.
 * Undefined when the broker refused; a lost connection throws.
 */
async function onChannelOfItsOwn<Result>(
  connection: ChannelModel,
  work: (channel: Channel) => Promise<Result>,
): Promise<Result | undefined> {
  const channel = await connection.createChannel();
  channel.on("error", () => undefined); // the refusal is the rejection below
  try {
    return await work(channel);
  } catch (error) {
    if (isRefusal(error)) return undefined;
    throw error;
  } finally {
    await channel.close().catch(() => undefined); // closed already by a refusal
  }
}

/**
 * A refusal that closes the channel only: 403 access refused (an exclusive consumer's queue),
 * 404 not found, 405 resource locked, 406 precondition failed (not empty, in use).
 */
function isRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 403 || code === 404 || code === 405 || code === 406;
}
