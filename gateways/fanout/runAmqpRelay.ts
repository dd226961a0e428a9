import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import amqp, { type ConfirmChannel } from "amqplib";
import type pg from "pg";
import type { EventStore, RecordedEvent } from "../eventStore/EventStore.ts";
import type { Position } from "../eventStore/Position.ts";
import { AdvisoryLease } from "../postgres/AdvisoryLease.ts";
import {
  closeConnection,
  CONNECT_OPTIONS,
  declareExchange,
  declareMainQueues,
  EVENTS_EXCHANGE,
  type ConsumerBinding,
} from "./amqpTopology.ts";
import { toEventMessage } from "./eventMessage.ts";
import type { FanoutCheckpoints } from "./FanoutCheckpoints.ts";
import { context } from "@opentelemetry/api";
import { contextOfEvent } from "../observability/traceContext.ts";
import type { Logger } from "pino";

export interface AmqpRelayOptions {
  /** For the lease: one relay publishes at a time; others stand by. */
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly checkpoints: FanoutCheckpoints;
  readonly amqpUrl: string;
  readonly signal: AbortSignal;
  /** Events published before waiting for the broker's confirms: the in-flight window (default 2,000). */
  readonly window?: number;
  /** Says what happens: lease taken, connected, connection lost and retrying. */
  readonly logger: Logger;
  /** After each confirmed and checkpointed window. */
  readonly onPublished?: (progress: { readonly position: Position; readonly events: number }) => void;
  /** First and longest pause before reconnecting (default 200 ms and 10 s, doubling). */
  readonly reconnectDelayMs?: { readonly first: number; readonly longest: number };
  /**
   * Every consumer of the fan-out, whichever process runs it: their main queues are declared and
   * bound before anything is published, so no event is relayed while its consumer's queue is
   * missing (RabbitMQ drops a message no queue is bound for). A queue of a consumer no process
   * runs then collects its events (a backlog to see, not a loss).
   */
  readonly consumers?: readonly ConsumerBinding[];
}

/** The relay's checkpoint name and lease. */
export const RELAY_NAME = "amqp-relay";
const LEASE_CLASS = 0x72656c79; // "rely"
// Windows awaiting the broker's confirms while the next one is published.
const MAX_UNCONFIRMED_WINDOWS = 2;

/**
 * Tails the event log from the relay's checkpoint and publishes every event to the events
 * exchange, persistent, over a confirm channel: a window of events goes out, and once the broker
 * has confirmed every one of them (written to disk for durable queues) — while the next window is
 * already being published — the checkpoint moves past it. A crash or a broker restart therefore re-publishes at most the
 * unconfirmed window — duplicates, never a loss (consumers are idempotent; the message id is the
 * event id). On a lost connection it reconnects by itself, with a growing pause, and resumes from
 * the checkpoint. One relay at a time holds the lease; the others stand by. Returns when
 * `signal` aborts.
 */
export async function runAmqpRelay(options: AmqpRelayOptions): Promise<void> {
  const run = new AbortController();
  const stop = () => run.abort();
  if (options.signal.aborted) return;
  options.signal.addEventListener("abort", stop, { once: true });
  const lease = await AdvisoryLease.take({
    pool: options.pool,
    classId: LEASE_CLASS,
    name: `${options.checkpoints.schema}.${RELAY_NAME}`,
    signal: run.signal,
    onLost: () => {
      options.logger.warn("relay: lost its lease connection; stopping so that a standby can take over");
      run.abort();
    },
    onStandby: () => options.logger.info("relay: another relay holds the lease; standing by"),
  });
  if (lease === undefined) return;
  const delays = options.reconnectDelayMs ?? { first: 200, longest: 10_000 };
  let delay = delays.first;
  const stopped = () => run.signal.aborted;
  try {
    while (!stopped()) {
      try {
        await relayOverOneConnection(options, run.signal, () => (delay = delays.first));
      } catch (error) {
        if (stopped()) break;
        options.logger.warn(
          { err: error },
          `relay: ${error instanceof Error ? error.message : String(error)}; reconnecting in ${delay} ms`,
        );
        await sleep(delay, undefined, { signal: run.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, delays.longest);
      }
    }
  } finally {
    options.signal.removeEventListener("abort", stop);
    await lease.release();
  }
}

async function relayOverOneConnection(
  options: AmqpRelayOptions,
  signal: AbortSignal,
  onConnected: () => void,
): Promise<void> {
  const connection = await amqp.connect(options.amqpUrl, CONNECT_OPTIONS);
  // A broker that goes away closes the connection: that ends this round, and the caller reconnects.
  let fail!: (error: Error) => void;
  const closed = new Promise<never>((_, reject) => (fail = reject));
  connection.on("error", () => undefined); // "close" follows with the reason
  connection.on("close", (error: unknown) =>
    fail(new Error(`connection to RabbitMQ closed${error instanceof Error ? `: ${error.message}` : ""}`)),
  );
  closed.catch(() => undefined); // also when this round ends before anyone awaits it
  const window = options.window ?? 2000;
  const from = await options.checkpoints.read(RELAY_NAME);
  const subscription = options.store.subscribe({ from, batchSize: window });
  const onAbort = () => void subscription.close();
  // Stopped while connecting: a listener added to a signal already aborted would never fire.
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  // An idle relay learns of a lost connection at once, not at the next event.
  const connectionState: { lost?: Error } = {};
  closed.catch((error: unknown) => {
    connectionState.lost = error instanceof Error ? error : new Error(String(error));
    void subscription.close();
  });
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => undefined); // "close" follows
    // A channel closed under a live connection ends the round too: its confirms and drains never come.
    channel.on("close", () => fail(new Error("the publishing channel closed")));
    await declareExchange(channel);
    await declareMainQueues(connection, options.consumers ?? [], (consumer, error) =>
      options.logger.error(
        { err: error },
        `relay: RabbitMQ refused to declare the queue of consumer ${consumer.name} as this version ` +
          `declares it (${error instanceof Error ? error.message : String(error)}); publishing on: an ` +
          `event of its types reaches it only through the bindings the queue already has`,
      ),
    );
    options.logger.info(`relay: connected, publishing from ${from}`);
    onConnected();
    // Each window's confirms are awaited, and its checkpoint saved, in the background and in
    // order, while the next window is read and published; at most a few windows are in flight.
    let settled: Promise<void> = Promise.resolve();
    const inFlight: Promise<void>[] = [];
    const settleInOrder = (position: Position, events: number, confirmed: Promise<unknown>) => {
      settled = settled
        .then(async () => {
          if (connectionState.lost !== undefined) return; // an earlier window failed: no checkpoint past it
          await Promise.race([confirmed, closed]);
          await options.checkpoints.save(RELAY_NAME, position);
          options.onPublished?.({ position, events });
        })
        .catch((error: unknown) => {
          connectionState.lost ??= error instanceof Error ? error : new Error(String(error));
          void subscription.close();
        });
      return settled;
    };
    for await (const message of subscription) {
      if (message.kind !== "events") continue;
      const last = message.events.at(-1);
      if (last === undefined) continue;
      const { confirmed } = await publishWindow(channel, message.events, closed);
      confirmed.catch(() => undefined); // awaited in order by settleInOrder
      inFlight.push(settleInOrder(last.position, message.events.length, confirmed));
      while (inFlight.length > MAX_UNCONFIRMED_WINDOWS) await inFlight.shift();
    }
    await settled;
    if (connectionState.lost !== undefined) throw connectionState.lost;
  } finally {
    signal.removeEventListener("abort", onAbort);
    await subscription.close();
    await closeConnection(connection);
  }
}

/**
 * Publishes a window of events; resolves once they are all written (waiting for the socket to
 * drain when its buffer is full) to the broker's confirms of all of them, still to come (wrapped:
 * an async function would otherwise wait for them).
 */
async function publishWindow(
  channel: ConfirmChannel,
  events: readonly RecordedEvent[],
  closed: Promise<never>,
): Promise<{ readonly confirmed: Promise<unknown> }> {
  const confirms: Promise<void>[] = [];
  for (const event of events) {
    const { routingKey, body, options: properties } = toEventMessage(event);
    let settle!: (error: unknown) => void;
    confirms.push(
      new Promise<void>((resolve, reject) => {
        settle = (error) => {
          if (error === null || error === undefined) resolve();
          else reject(new Error(`the broker refused event ${event.id}`));
        };
      }),
    );
    // Published in the trace the event was recorded in (a no-op with tracing off).
    const written = context.with(contextOfEvent(event.metadata), () =>
      channel.publish(EVENTS_EXCHANGE, routingKey, body, properties, (error: unknown) => settle(error)),
    );
    // The socket's buffer is full: wait for it to drain (or for the connection to go).
    if (!written) await Promise.race([once(channel, "drain"), closed]);
  }
  return { confirmed: Promise.all(confirms) };
}
