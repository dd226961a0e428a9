import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { handleCommand } from "../commands/handleCommand.ts";
import type { NotificationCommand } from "../domain/notification/NotificationCommand.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { AdvisoryLease } from "../gateways/postgres/AdvisoryLease.ts";
import { awaitingFinalStatus } from "../projections/tracking/trackingQueries.ts";
import type { TwilioSmsProvider } from "../gateways/sms/TwilioSmsProvider.ts";
import type { Logger } from "pino";

export interface StatusPollerOptions {
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly providers: readonly Pick<TwilioSmsProvider, "name" | "fetch">[];
  /** The tracking read model's view (`<prefix>_read.notifications`). */
  readonly notificationsView: string;
  readonly signal: AbortSignal;
  /** A notification without a report for this long is asked about (default 2 minutes). */
  readonly quietForMs?: number;
  /** Between two rounds (default 30 s). */
  readonly everyMs?: number;
  /** Notifications asked about per round at most (default 200). */
  readonly perRound?: number;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly logger: Logger;
}

const UNDEFINED_TABLE = "42P01";
const LEASE_CLASS = 0x706f6c6c; // "poll"

/**
 * For notifications the provider accepted but that have no final status: a callback may have
 * been lost, so ask the provider (`via: poll`); once a notification's validity has passed without
 * a final report, it becomes `unknown` (a later report may still settle it). Reads candidates
 * from the tracking read model; every change goes through the notification decider, so a poll
 * racing a webhook is harmless. One poller holds the lease. Returns when `signal` aborts.
 */
export async function runStatusPoller(options: StatusPollerOptions): Promise<void> {
  const lease = await AdvisoryLease.take({
    pool: options.pool,
    classId: LEASE_CLASS,
    name: options.notificationsView,
    signal: options.signal,
    onLost: () => options.logger.warn("status poller: lost its lease connection"),
  });
  if (lease === undefined) return;
  try {
    do {
      if (lease.lost) return;
      try {
        await pollOnce(options);
      } catch (error) {
        // The read model it reads is created by the projector: on a fresh start, wait for it.
        if ((error as { code?: unknown }).code === UNDEFINED_TABLE) continue;
        options.logger.error(
          { err: error },
          `status poller: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } while (await sleep(options.everyMs ?? 30_000, true, { signal: options.signal }).catch(() => false));
  } finally {
    await lease.release();
  }
}

/** One round; returns how many notifications it asked about and how many it expired. */
export async function pollOnce(options: StatusPollerOptions): Promise<{ polled: number; expired: number }> {
  const now = options.clock();
  const rows = await awaitingFinalStatus(
    options.pool,
    options.notificationsView,
    epochMsToInstant(now - (options.quietForMs ?? 120_000)),
    options.perRound ?? 200,
  );
  let polled = 0;
  let expired = 0;
  for (const row of rows) {
    const decide = (command: NotificationCommand) =>
      handleCommand(options.store, notificationDecider, notificationStreamId(row.notification_id), command, {
        retriesOnConflict: 3,
        newEventId: options.newEventId,
        metadata: { correlationId: row.notification_id, actor: "status-poller" },
      });
    const provider = options.providers.find((candidate) => candidate.name === row.provider);
    const message = await provider?.fetch(row.provider_message_id).catch(() => undefined);
    if (provider !== undefined && message !== undefined) {
      polled += 1;
      await decide({
        type: "ReportSmsStatus",
        data: {
          notificationId: row.notification_id,
          provider: provider.name,
          dialect: "twilio",
          rawStatus: message.status,
          errorCode: message.errorCode,
          via: "poll",
          reportedAt: epochMsToInstant(now),
        },
      });
    }
    if (row.valid_until <= epochMsToInstant(now)) {
      const outcome = await decide({
        type: "ExpireToUnknown",
        data: { notificationId: row.notification_id, now: epochMsToInstant(now) },
      });
      if (outcome.outcome === "accepted" && outcome.events.length > 0) expired += 1;
    }
  }
  return { polled, expired };
}
