import type pg from "pg";
import { listAmqpDeadLetters, requeueAmqpDeadLetters } from "./amqpDeadLetters.ts";
import { DeadLetters, type DeadLetter } from "./DeadLetters.ts";

/**
 * The dead letters of the fan-out as it is configured, whichever it is: with AMQP_URL the messages
 * in each consumer's `tidemark.<consumer>.dead` queue, without the rows of `<prefix>_fanout.dead_letters`.
 * What the dead-letter CLI and the query API's operations routes both read and requeue.
 */
export interface DeadLetterInbox {
  /** Creates the in-process fan-out's tables if missing (nothing to do for RabbitMQ). */
  migrate(): Promise<void>;
  /** The dead letters of `consumers`, in log order per consumer, at most `limit` in all. */
  list(consumers: readonly string[], limit: number): Promise<DeadLetter[]>;
  /**
   * Hands dead letters of `consumer` (all, or those with the given event ids) back to it; how many.
   * RabbitMQ: moved back to its queue with a fresh attempt count. In-process: marked, and the
   * running consumer handles them again within seconds.
   */
  requeue(consumer: string, eventIds: readonly string[] | "all"): Promise<number>;
}

/**
 * RabbitMQ's dead-letter queues (with AMQP_URL), or the in-process fan-out's table in `schema`.
 * Each call on RabbitMQ opens a connection of its own and closes it.
 */
export function deadLetterInbox(
  where: { readonly amqpUrl: string } | { readonly pool: pg.Pool; readonly schema: string },
): DeadLetterInbox {
  if ("amqpUrl" in where) {
    const { amqpUrl } = where;
    return {
      migrate: () => Promise.resolve(),
      list: async (consumers, limit) =>
        (await listAmqpDeadLetters(amqpUrl, consumers, limit)).slice(0, limit),
      requeue: (consumer, eventIds) => requeueAmqpDeadLetters(amqpUrl, consumer, eventIds),
    };
  }
  const table = new DeadLetters(where.pool, where.schema);
  return {
    migrate: () => table.migrate(),
    list: async (consumers, limit) => {
      const letters: DeadLetter[] = [];
      for (const consumer of consumers) {
        if (letters.length >= limit) break;
        letters.push(...(await table.list(consumer, limit - letters.length)));
      }
      return letters;
    },
    requeue: (consumer, eventIds) => table.requeue(consumer, eventIds),
  };
}
