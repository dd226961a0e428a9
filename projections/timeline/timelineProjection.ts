import type { Kysely } from "kysely";
import { ACCOUNT_EVENT_TYPES } from "../../domain/account/AccountEvent.ts";
import {
  NOTIFICATION_EVENT_TYPES,
  type NotificationRequested,
} from "../../domain/notification/NotificationEvent.ts";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import { insertRows } from "../runtime/writeRows.ts";
import type { TimelineEntriesTable, TimelineTables } from "./TimelineTables.ts";

const ACCOUNT_STREAM = "account-";
const NOTIFICATION_STREAM = "notification-";

/**
 * The timeline read model: every event of an account's stream and of its notifications' streams,
 * filed under the account in log order. It keeps the events whole (explanations are written when
 * the timeline is read, so better wording needs no rebuild) and is append-only: a batch costs one
 * read (the accounts of notifications it did not see requested) and one write.
 */
export const timelineProjection: Projection<TimelineTables> = {
  name: "timeline",
  version: 1,
  eventTypes: new Set<string>([...ACCOUNT_EVENT_TYPES, ...NOTIFICATION_EVENT_TYPES]),
  tables: ["timeline_entries", "timeline_notifications"],
  async setUp(db, schema) {
    await db.schema
      .withSchema(schema)
      .createTable("timeline_entries")
      .ifNotExists()
      .addColumn("account_id", "text", (col) => col.notNull())
      .addColumn("position", "text", (col) => col.notNull())
      .addColumn("stream_id", "text", (col) => col.notNull())
      .addColumn("stream_revision", "integer", (col) => col.notNull())
      .addColumn("event_type", "text", (col) => col.notNull())
      .addColumn("data", "jsonb", (col) => col.notNull())
      .addPrimaryKeyConstraint("timeline_entries_pkey", ["account_id", "position"])
      .execute();
    await db.schema
      .withSchema(schema)
      .createTable("timeline_notifications")
      .ifNotExists()
      .addColumn("notification_id", "text", (col) => col.primaryKey())
      .addColumn("account_id", "text", (col) => col.notNull())
      .execute();
  },
  async foldBatch(reader: Kysely<TimelineTables>, events: readonly EventWithoutMetadata[], schema: string) {
    const accountOfNotification = new Map<string, string>();
    for (const recorded of events) {
      if (recorded.type === "NotificationRequested") {
        accountOfNotification.set(notificationIdOf(recorded), accountIdOfRequest(recorded));
      }
    }
    const unknown = [
      ...new Set(
        events
          .filter((recorded) => recorded.streamId.startsWith(NOTIFICATION_STREAM))
          .map(notificationIdOf)
          .filter((id) => !accountOfNotification.has(id)),
      ),
    ];
    if (unknown.length > 0) {
      const stored = await reader
        .withSchema(schema)
        .selectFrom("timeline_notifications")
        .select(["notification_id", "account_id"])
        .where("notification_id", "=", (eb) => eb.fn.any(eb.val(unknown)))
        .execute();
      for (const row of stored) accountOfNotification.set(row.notification_id, row.account_id);
    }
    const entries: TimelineEntriesTable[] = [];
    for (const recorded of events) {
      const accountId = recorded.streamId.startsWith(ACCOUNT_STREAM)
        ? recorded.streamId.slice(ACCOUNT_STREAM.length)
        : accountOfNotification.get(notificationIdOf(recorded));
      // A notification event whose request is not in the log (never written by Tidemark) has no
      // account to be filed under.
      if (accountId === undefined) continue;
      entries.push({
        account_id: accountId,
        position: recorded.position,
        stream_id: recorded.streamId,
        stream_revision: recorded.revision,
        event_type: recorded.type,
        data: recorded.data,
      });
    }
    const requested = events
      .filter((recorded) => recorded.type === "NotificationRequested")
      .map((recorded) => ({
        notification_id: notificationIdOf(recorded),
        account_id: accountIdOfRequest(recorded),
      }));
    return [...insertRows("timeline_entries", entries), ...insertRows("timeline_notifications", requested)];
  },
};

function accountIdOfRequest(recorded: EventWithoutMetadata): string {
  return (recorded.data as NotificationRequested["data"]).accountId;
}

function notificationIdOf(recorded: EventWithoutMetadata): string {
  return recorded.streamId.slice(NOTIFICATION_STREAM.length);
}
