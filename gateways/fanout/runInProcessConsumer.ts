import type pg from "pg";
import type { EventStore, RecordedEvent } from "../eventStore/EventStore.ts";
import { AdvisoryLease } from "../postgres/AdvisoryLease.ts";
import { DEFAULT_RETRY_DELAYS_MS } from "./amqpTopology.ts";
import type { DeadLetters } from "./DeadLetters.ts";
import { checkConsumerName, type EventConsumer } from "./EventConsumer.ts";
import type { FanoutCheckpoints } from "./FanoutCheckpoints.ts";
import type { PendingRetries } from "./PendingRetries.ts";
import type { ConsumerOutcome } from "./runAmqpConsumer.ts";
import { withEventSpan } from "../observability/traceContext.ts";
import type { Logger } from "pino";

export interface InProcessConsumerOptions {
  /** For the lease: one runner per consumer across processes. */
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly checkpoints: FanoutCheckpoints;
  readonly deadLetters: DeadLetters;
  /** Where a failed event waits for its next attempt, so that the ones behind it go on. */
  readonly retries: PendingRetries;
  readonly consumer: EventConsumer;
  readonly signal: AbortSignal;
  /** Pause before each retry; after the last, the event is recorded as dead (default 1 s, 5 s, 30 s). */
  readonly retryDelaysMs?: readonly number[];
  readonly batchSize?: number;
  /**
   * Events of a batch handled at once (default 1: in log order). Above 1, for a consumer whose
   * events are independent and idempotent; the checkpoint still moves only after the whole batch.
   */
  readonly concurrency?: number;
  readonly logger: Logger;
  readonly onOutcome?: (outcome: ConsumerOutcome, eventId: string) => void;
}

const LEASE_CLASS = 0x636f6e73; // "cons"

/**
 * The fan-out without RabbitMQ (the embedded default): a consumer follows the log itself, from
 * its own checkpoint, through a subscription. Each event of its types is handled once; one that
 * fails waits in the pending retries (a table, as RabbitMQ's retry queues hold it) for the same
 * growing delays, while the events behind it go on, and after the last attempt it is recorded
 * in the dead letters. The checkpoint moves after each batch, once every failed event of it is
 * in the table, so a crash re-handles at most one batch (the consumer is idempotent) and loses no
 * retry. Retries and requeued dead letters are handled between batches, never beside one. One
 * runner per consumer holds its lease. Returns when `signal` aborts.
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
    onLost: () => options.logger.warn(`consumer ${consumer.name}: lost its lease connection`),
    onStandby: () => options.logger.info(`consumer ${consumer.name}: another process runs it; standing by`),
  });
  if (lease === undefined) return;
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
  const later = new RetryTimer();
  const background = handleLater(options, exclusively, later, ended.signal);
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
        const mine = message.events.filter((event) => consumer.eventTypes.has(event.type));
        await exclusively(() =>
          eachAtMost(options.concurrency ?? 1, mine, (event) => attempt(options, event, 1, later)),
        );
        const last = message.events.at(-1);
        if (lease.lost) return;
        if (last !== undefined) await options.checkpoints.save(checkpointName, last.position);
      }
    } finally {
      options.signal.removeEventListener("abort", onAbort);
      await subscription.close();
    }
  } finally {
    options.signal.removeEventListener("abort", endWithCaller);
    ended.abort();
    await background;
    await lease.release();
  }
}

const REQUEUE_POLL_MS = 2000;

/** When the background loop should look again: at the earliest known due retry, at the latest in 2 s. */
class RetryTimer {
  #dueAt = Number.POSITIVE_INFINITY;
  #ring: (() => void) | undefined;

  /** A retry is due in `delayMs`: wake sooner if that is sooner. */
  dueIn(delayMs: number): void {
    const dueAt = Date.now() + delayMs;
    if (dueAt >= this.#dueAt) return;
    this.#dueAt = dueAt;
    this.#ring?.();
  }

  /** Sleeps until the earliest due retry, a sooner one announced meanwhile, 2 s, or `signal`. */
  async wait(signal: AbortSignal): Promise<void> {
    for (;;) {
      const ms = Math.min(this.#dueAt - Date.now(), REQUEUE_POLL_MS);
      if (ms <= 0 || signal.aborted) break;
      const rung = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        const stop = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", stop);
          resolve(true);
        };
        this.#ring = stop;
        signal.addEventListener("abort", stop, { once: true });
      });
      this.#ring = undefined;
      if (!rung) break;
    }
    this.#dueAt = Number.POSITIVE_INFINITY;
  }

  /** After a pass: the next retry the table holds is due in `delayMs`. */
  knownDueIn(delayMs: number | undefined): void {
    if (delayMs !== undefined) this.dueIn(delayMs);
  }
}

/**
 * Until stopped: the consumer's retries as they fall due, and its dead letters marked for
 * another try (`npm run dead-letters -- requeue`), each handled once more in turn.
 */
async function handleLater(
  options: InProcessConsumerOptions,
  exclusively: <T>(work: () => Promise<T>) => Promise<T>,
  later: RetryTimer,
  signal: AbortSignal,
): Promise<void> {
  const { consumer, deadLetters, retries } = options;
  later.knownDueIn(await retries.nextDueInMs(consumer.name).catch(() => 0));
  for (;;) {
    await later.wait(signal);
    if (signal.aborted) return;
    try {
      await exclusively(async () => {
        for (const pending of await retries.due(consumer.name)) {
          if (signal.aborted) return;
          const outcome = await attempt(options, pending.event, pending.attempts + 1, later);
          if (outcome !== "retrying") await retries.remove(consumer.name, pending.event.id);
        }
        for (const event of await deadLetters.requeued(consumer.name)) {
          if (signal.aborted) return;
          // Handled or waiting for its next attempt: no longer dead (a failure was recorded first).
          if ((await attempt(options, event, 1, later)) !== "dead") {
            await deadLetters.remove(consumer.name, event.id);
          }
        }
      });
      later.knownDueIn(await retries.nextDueInMs(consumer.name));
    } catch (error) {
      options.logger.error(
        { err: error },
        `consumer ${consumer.name}: retries: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/** Attempt number `number` of `event`: handled; or failed and scheduled again, or dead after the last. */
async function attempt(
  options: InProcessConsumerOptions,
  event: RecordedEvent,
  number: number,
  later: RetryTimer,
): Promise<"handled" | "retrying" | "dead"> {
  try {
    await withEventSpan(event, `handle ${options.consumer.name}`, (traced) =>
      options.consumer.handle(traced),
    );
    options.onOutcome?.("ok", event.id);
    return "handled";
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const delay = (options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)[number - 1];
    if (delay === undefined) {
      await options.deadLetters.record(options.consumer.name, event, number, reason);
      options.onOutcome?.("dead", event.id);
      options.logger.error(
        `consumer ${options.consumer.name}: event ${event.id} dead after ${number} attempts: ${reason}`,
      );
      return "dead";
    }
    await options.retries.schedule(options.consumer.name, event, number, reason, delay);
    later.dueIn(delay);
    options.onOutcome?.("retry", event.id);
    return "retrying";
  }
}

/** `work` for every item, at most `limit` at a time (1: one after the other, in order). */
async function eachAtMost<T>(limit: number, items: readonly T[], work: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
