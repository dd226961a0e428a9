import type { RecordedEvent } from "../eventStore/EventStore.ts";

/**
 * Something that reacts to events fanned out from the log: a gateway, a policy, a tracker. Each
 * consumer gets its own durable queue (RabbitMQ) or checkpointed subscription (in-process), and
 * sees every event of its types at least once, in log order per queue (by priority first, on a
 * priority queue).
 *
 * `handle` must be idempotent: a redelivered or duplicated event must change nothing more than
 * its first delivery did (deterministic ids, expected revisions, or a record of what was done).
 * It resolves once the effect is recorded; only then is the message acknowledged. A throw means
 * "try again later"; after the last retry the event goes to the consumer's dead letters.
 */
export interface EventConsumer {
  /** Names the queues (`tidemark.<name>…`) and the checkpoint: lower-case letters, digits, dashes. */
  readonly name: string;
  readonly eventTypes: ReadonlySet<string>;
  /**
   * On RabbitMQ, a priority queue (`tidemark.<name>.prioritised`): of the messages waiting, those
   * with the highest priority the relay gave (`messagePriority`) are delivered first, not only
   * those published first. The queue of a deployment from before (`tidemark.<name>`) is unbound,
   * drained and deleted by the consumer. In-process, the consumer reads the log in order.
   */
  readonly priorityQueue?: boolean;
  handle(event: RecordedEvent): Promise<void>;
}

const CONSUMER_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** @throws Error when a consumer's name could not name a queue and a checkpoint. */
export function checkConsumerName(name: string): void {
  if (!CONSUMER_NAME.test(name)) {
    throw new Error(`consumer name ${JSON.stringify(name)}: use lower-case letters, digits and dashes`);
  }
}
