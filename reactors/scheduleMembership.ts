import type pg from "pg";
import { firstRefreshDue, type RefreshSchedule } from "../domain/account/RefreshSchedule.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import { FANOUT_BINDINGS } from "./consumerNames.ts";

export interface ScheduleMembershipOptions {
  readonly pool: pg.Pool;
  readonly store: EventStore;
  /** The schedule's table (`"<prefix>_scheduler".refresh_schedule`). */
  readonly table: string;
  readonly schedule: RefreshSchedule;
  readonly clock: () => number;
}

/**
 * Keeps the refresh schedule's members as accounts open and close, one account at a time, so the
 * scheduler need not compare every account with its schedule on each tick. A closing takes the
 * account off. An opening puts it on only if its stream, as it stands, has not closed it since: a
 * redelivered opening that arrives after the closing leaves a closed account off the schedule.
 * An account that joins is first due at its own slot at least the first delay from now (a pull
 * must not replace the balance pushed at opening moments before); one already on it keeps its
 * due time.
 */
export function scheduleMembership(options: ScheduleMembershipOptions): EventConsumer {
  return {
    ...FANOUT_BINDINGS.scheduleMembership,
    async handle(recorded: RecordedEvent) {
      const accountId = recorded.streamId.slice("account-".length);
      // A closing is final (no command opens an account again): nothing to read for it.
      if (recorded.type === "AccountOpened" && (await isOpen(options.store, recorded.streamId))) {
        const due = new Date(firstRefreshDue(accountId, options.clock(), options.schedule));
        await options.pool.query(
          `insert into ${options.table} (account_id, next_due_at) values ($1, $2) on conflict (account_id) do nothing`,
          [accountId, due],
        );
      } else {
        await options.pool.query(`delete from ${options.table} where account_id = $1`, [accountId]);
      }
    },
  };
}

/** Whether the account's stream opens it and nothing has closed it since. */
async function isOpen(store: EventStore, streamId: string): Promise<boolean> {
  let open = false;
  for await (const recorded of store.readStream(streamId)) {
    if (recorded.revision === 0) open = recorded.type === "AccountOpened";
    if (recorded.type === "AccountClosed") return false;
  }
  return open;
}
