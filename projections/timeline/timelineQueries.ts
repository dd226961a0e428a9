import type { Kysely } from "kysely";
import type { Rule } from "../../domain/rules/Rule.ts";
import { explainTimelineEntry, visibleData } from "./explainTimelineEntry.ts";
import type { TimelineEntriesTable, TimelineTables } from "./TimelineTables.ts";

/** One entry of an account's timeline as the query API answers it. */
export interface TimelineEntryView {
  /** Global position: where the event sits in the log, and the keyset of the pages. */
  readonly position: string;
  readonly stream: string;
  readonly revision: number;
  readonly type: string;
  /** The time the event itself carries (e.g. the bank's time for a balance is in `data`). */
  readonly at: string | null;
  /** The notification the event belongs to; null for the account's own events. */
  readonly notificationId: string | null;
  /** One line a support agent can read to the customer. */
  readonly explanation: string;
  /** The event's data, masked without `pii:read`. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A page of a timeline and the keyset of the next one (null at the end). */
export interface TimelinePage {
  readonly items: readonly TimelineEntryView[];
  readonly next: string | null;
}

/** Which page of {@link listTimeline}: `after` is the previous page's `next`. */
export interface TimelineFilter {
  readonly order: "asc" | "desc";
  readonly after?: string;
  readonly limit: number;
  readonly showPii: boolean;
  /** Every rule version published: decisions are explained with the thresholds they were made against. */
  readonly rules: readonly Rule[];
}

/** Time fields events carry, in the order they are looked for. */
const TIME_FIELDS = [
  "at",
  "openedAt",
  "changedAt",
  "receivedAt",
  "requestedAt",
  "observedAt",
  "failedAt",
  "closedAt",
  "reportedAt",
];

/**
 * A page of everything that happened to `accountId` and its notifications, in log order (or
 * newest first with `desc`), each with its explanation. One index range scan per page.
 */
export async function listTimeline(
  db: Kysely<TimelineTables>,
  schema: string,
  accountId: string,
  filter: TimelineFilter,
): Promise<TimelinePage> {
  let query = db
    .withSchema(schema)
    .selectFrom("timeline_entries")
    .selectAll()
    .where("account_id", "=", accountId)
    .orderBy("position", filter.order)
    .limit(filter.limit + 1);
  if (filter.after !== undefined) {
    query = query.where("position", filter.order === "asc" ? ">" : "<", filter.after);
  }
  const rows = await query.execute();
  const items = rows
    .slice(0, filter.limit)
    .map((row) => timelineEntryView(row, filter.showPii, filter.rules));
  return { items, next: rows.length > filter.limit ? (items.at(-1)?.position ?? null) : null };
}

/** Every event of an account and its notifications, oldest first: what the rule states fold. */
export async function allTimelineEvents(
  db: Kysely<TimelineTables>,
  schema: string,
  accountId: string,
): Promise<readonly TimelineEntriesTable[]> {
  return db
    .withSchema(schema)
    .selectFrom("timeline_entries")
    .selectAll()
    .where("account_id", "=", accountId)
    .orderBy("position", "asc")
    .execute();
}

function timelineEntryView(
  row: TimelineEntriesTable,
  showPii: boolean,
  rules: readonly Rule[],
): TimelineEntryView {
  const event = { type: row.event_type, data: row.data };
  return {
    position: row.position,
    stream: row.stream_id,
    revision: row.stream_revision,
    type: row.event_type,
    at: eventTime(row.data),
    notificationId: row.stream_id.startsWith("notification-")
      ? row.stream_id.slice("notification-".length)
      : null,
    explanation: explainTimelineEntry(event, showPii, rules),
    data: visibleData(row.data, showPii),
  };
}

/** The time an event carries, whatever its type names it. */
export function eventTime(data: Readonly<Record<string, unknown>>): string | null {
  for (const field of TIME_FIELDS) {
    const value = data[field];
    if (typeof value === "string") return value;
  }
  return null;
}
