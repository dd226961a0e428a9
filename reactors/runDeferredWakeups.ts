import { setTimeout as sleep } from "node:timers/promises";
import { notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import type { DeferredWakeups } from "../gateways/sms/DeferredWakeups.ts";
import type { Logger } from "pino";

export interface DeferredWakeupsOptions {
  readonly store: EventStore;
  readonly wakeups: Pick<DeferredWakeups, "due" | "done" | "schedule">;
  /** The SMS gateway: handed the notification's request again once its deferral is over. */
  readonly gateway: Pick<EventConsumer, "handle">;
  readonly signal: AbortSignal;
  /** Between two looks at the table (default 5 s). */
  readonly everyMs?: number;
  /** After a failed wake-up, when to try again (default 30 s). */
  readonly retryAfterMs?: number;
  readonly clock: () => number;
  readonly logger: Logger;
}

/**
 * Wakes deferred notifications when their deferral ends: the gateway gets the notification's
 * request again, finds the deferral over, checks again (consent, recovery, cap, quiet hours) and
 * sends. The due times live in PostgreSQL, so a restart wakes what came due while it was down.
 * Returns when `signal` aborts.
 */
export async function runDeferredWakeups(options: DeferredWakeupsOptions): Promise<void> {
  do {
    try {
      await wakeDue(options);
    } catch (error) {
      options.logger.error(
        { err: error },
        `deferred wake-ups: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  } while (await sleep(options.everyMs ?? 5000, true, { signal: options.signal }).catch(() => false));
}

/** One round; returns how many notifications were woken. */
export async function wakeDue(options: DeferredWakeupsOptions): Promise<number> {
  const now = epochMsToInstant(options.clock());
  let woken = 0;
  for (const notificationId of await options.wakeups.due(now, 100)) {
    let request;
    for await (const event of options.store.readStream(notificationStreamId(notificationId), {
      maxCount: 1,
    })) {
      request = event;
    }
    try {
      if (request !== undefined) await options.gateway.handle(request);
      await options.wakeups.done(notificationId, now);
      woken += 1;
    } catch (error) {
      options.logger.error(
        { err: error, notificationId },
        `deferred wake-ups: ${notificationId}: ${error instanceof Error ? error.message : String(error)}`,
      );
      await options.wakeups.schedule(
        notificationId,
        epochMsToInstant(options.clock() + (options.retryAfterMs ?? 30_000)),
      );
    }
  }
  return woken;
}
