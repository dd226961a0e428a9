import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { EventStore, RecordedEvent } from "../eventStore/EventStore.ts";
import { AdvisoryLease } from "../postgres/AdvisoryLease.ts";
import { DEFAULT_RETRY_DELAYS_MS } from "./amqpTopology.ts";
import type { DeadLetters } from "./DeadLetters.ts";
import { checkConsumerName, type EventConsumer } from "./EventConsumer.ts";
import type { FanoutCheckpoints } from "./FanoutCheckpoints.ts";
import type { ConsumerOutcome } from "./runAmqpConsumer.ts";

export interface InProcessConsumerOptions {
  /** For the lease: one runner per consumer across processes. */
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly checkpoints: FanoutCheckpoints;
  readonly deadLetters: DeadLetters;
  readonly consumer: EventConsumer;
  readonly signal: AbortSignal;
  /** Pause before each retry; after the last, the event is recorded as dead (default 1 s, 5 s, 30 s). */
  readonly retryDelaysMs?: readonly number[];
  readonly batchSize?: number;
  readonly log: (message: string) => void;
  readonly onOutcome?: (outcome: ConsumerOutcome, eventId: string) => void;
}

const LEASE_CLASS = 0x636f6e73; // "cons"

/**
 * The fan-out without RabbitMQ (the embedded default): a consumer follows the log itself, from
 * its own checkpoint, through a subscription. Each event of its types is handled, retried after
 * the same growing delays as through the retry queues, and after the last attempt recorded in
 * the dead letters; the checkpoint moves after each batch, so a crash re-handles at most one
 * batch (the consumer is idempotent). One runner per consumer holds its lease. Returns when
 * `signal` aborts.
 */
export async function runInProcessConsumer(options: InProcessConsumerOptions): Promise<void> {
  const { consumer } = options;
  checkConsumerName(consumer.name);
  const checkpointName = `consumer:${consumer.name}`;
  const lease = await AdvisoryLease.take({
    pool: options.pool,
    classId: LEASE_CLASS,
    name: `${options.checkpoints.schema}.${consumer.name}`,
    signal: options.signal,
    onLost: () => options.log(`consumer ${consumer.name}: lost its lease connection`),
    onStandby: () => options.log(`consumer ${consumer.name}: another process runs it; standing by`),
  });
  if (lease === undefined) return;
  // Dead letters marked for another try are handled between batches, never beside one.
  let turn: Promise<unknown> = Promise.resolve();
  const exclusively = <T>(work: () => Promise<T>): Promise<T> => {
    const result = turn.then(work);
    turn = result.catch(() => undefined);
    return result;
  };
  const ended = new AbortController();
  const endWithCaller = () => ended.abort();
  if (options.signal.aborted) endWithCaller();
  else options.signal.addEventListener("abort", endWithCaller, { once: true });
  const requeues = retryRequeued(options, exclusively, ended.signal);
  try {
    const from = await options.checkpoints.read(checkpointName);
    const subscription = options.store.subscribe({ from, batchSize: options.batchSize ?? 100 });
    const onAbort = () => void subscription.close();
    // Stopped while reading the checkpoint: a listener added now would never fire.
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const message of subscription) {
        if (message.kind !== "events") continue;
        const completed = await exclusively(async () => {
          for (const event of message.events) {
            if (!consumer.eventTypes.has(event.type)) continue;
            // Stopped while retrying: this batch's checkpoint stays behind.
            if ((await handleWithRetries(options, event)) === false) return false;
          }
          return true;
        });
        const last = message.events.at(-1);
        if (!completed || lease.lost) return;
        if (last !== undefined) await options.checkpoints.save(checkpointName, last.position);
      }
    } finally {
      options.signal.removeEventListener("abort", onAbort);
      await subscription.close();
    }
  } finally {
    options.signal.removeEventListener("abort", endWithCaller);
    ended.abort();
    await requeues;
    await lease.release();
  }
}

const REQUEUE_POLL_MS = 2000;

/** Until stopped: every two seconds, the consumer's requeued dead letters, handled again in log order. */
async function retryRequeued(
  options: InProcessConsumerOptions,
  exclusively: <T>(work: () => Promise<T>) => Promise<T>,
  signal: AbortSignal,
): Promise<void> {
  const { consumer, deadLetters } = options;
  while (await sleep(REQUEUE_POLL_MS, true, { signal }).catch(() => false)) {
    try {
      await exclusively(async () => {
        for (const event of await deadLetters.requeued(consumer.name)) {
          const outcome = await handleWithRetries(options, event);
          if (outcome === false) return;
          if (outcome === "handled") await deadLetters.remove(consumer.name, event.id);
        }
      });
    } catch (error) {
      options.log(
        `consumer ${consumer.name}: requeued dead letters: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/** Handled, or dead-lettered after the last attempt; false when stopped on the way. */
async function handleWithRetries(
  options: InProcessConsumerOptions,
  event: RecordedEvent,
): Promise<"handled" | "dead" | false> {
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await options.consumer.handle(event);
      options.onOutcome?.("ok", event.id);
      return "handled";
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const delay = delays[attempt - 1];
      if (delay === undefined) {
        await options.deadLetters.record(options.consumer.name, event, attempt, reason);
        options.onOutcome?.("dead", event.id);
        options.log(
          `consumer ${options.consumer.name}: event ${event.id} dead after ${attempt} attempts: ${reason}`,
        );
        return "dead";
      }
      options.onOutcome?.("retry", event.id);
      const waited = await sleep(delay, true, { signal: options.signal }).catch(() => false);
      if (!waited) return false;
    }
  }
}
