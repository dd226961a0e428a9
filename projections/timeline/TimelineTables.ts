/**
 * One row per event that happened to an account or to one of its notifications: the event as it
 * was recorded (type and data, personal data included: masking happens when it is read), and
 * where it sits in the log. What the console's customer timeline and the "why no alert?" panel
 * read.
 */
export interface TimelineEntriesTable {
  account_id: string;
  /** Global position: the keyset of the timeline (positions compare as text). */
  position: string;
  stream_id: string;
  stream_revision: number;
  event_type: string;
  data: Record<string, unknown>;
}

/** Which account each notification belongs to, so its later events find their timeline. */
export interface TimelineNotificationsTable {
  notification_id: string;
  account_id: string;
}

export interface TimelineTables {
  timeline_entries: TimelineEntriesTable;
  timeline_notifications: TimelineNotificationsTable;
}
