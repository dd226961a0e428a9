import { sql, type Kysely } from "kysely";
import type pg from "pg";
import type { NotificationStatus } from "../../domain/notification/NotificationStatus.ts";
import { parseInstant, type Instant } from "../../domain/values/Instant.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";
import { MicroBatcher } from "../../gateways/postgres/MicroBatcher.ts";
import { maskPhone } from "../accounts/accountQueries.ts";
import type { NotificationsTable, NotificationTransitionsTable, TrackingTables } from "./TrackingTables.ts";

/**
 * A notification as the query API answers it. Without PII the recipient is masked and the body
 * and template variables are null.
 */
export interface NotificationView {
  readonly notificationId: string;
  readonly accountId: string;
  readonly messageClass: MessageClass;
  readonly rule: { readonly ruleId: string; readonly episode: number } | null;
  readonly templateId: string;
  readonly variables: Readonly<Record<string, string>> | null;
  readonly recipient: string;
  readonly body: string | null;
  readonly encoding: string;
  readonly segments: number;
  readonly providerSegments: number | null;
  readonly status: NotificationStatus;
  /** As the provider sent them in its last answer. */
  readonly rawStatus: string | null;
  readonly errorCode: string | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly attempts: number;
  readonly suppressionReason: string | null;
  readonly deferral: { readonly reason: string; readonly until: string } | null;
  readonly requestedAt: string;
  readonly validUntil: string;
  readonly lastEventAt: string;
  /** Position of `NotificationRequested`: what `after` takes to read the next page. */
  readonly position: string;
  readonly lastPosition: string;
}

/** One event in a notification's life: the status before and after, and what came with it. */
export interface TransitionView {
  readonly seq: number;
  readonly position: string;
  readonly type: string;
  readonly at: string;
  readonly statusBefore: NotificationStatus | null;
  readonly statusAfter: NotificationStatus;
  readonly attempt: number | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly rawStatus: string | null;
  readonly errorCode: string | null;
  readonly reason: string | null;
  readonly until: string | null;
  readonly detail: string | null;
}

/** A notification with its timeline, oldest transition first. */
export interface NotificationDetailView extends NotificationView {
  readonly timeline: readonly TransitionView[];
}

/** Whether the caller may see personal data: the recipient's number, the body, the variables. */
export interface PiiOption {
  readonly showPii: boolean;
}

/** Filters and keyset of {@link listNotifications}; every filter given must match. */
export interface NotificationFilter extends PiiOption {
  readonly accountId?: string;
  readonly status?: NotificationStatus;
  /** Caused by this rule. */
  readonly ruleId?: string;
  /** Last attempted through this provider. */
  readonly provider?: string;
  /** Requested at or after this instant (canonical UTC ISO text). */
  readonly requestedFrom?: string;
  /** Requested before this instant (canonical UTC ISO text). */
  readonly requestedTo?: string;
  /** The `next` of the previous page: only notifications requested after this position. */
  readonly after?: string;
  /** Page size, at least 1. */
  readonly limit: number;
}

/** A page of notifications; `next` is set when there may be more (pass it as `after`). */
export interface NotificationPage {
  readonly items: readonly NotificationView[];
  readonly next: string | undefined;
}

// Everything but the domain state kept for the projection's own fold.
const NOTIFICATION_COLUMNS = [
  "notification_id",
  "account_id",
  "message_class",
  "rule_id",
  "rule_episode",
  "template_id",
  "variables",
  "body",
  "encoding",
  "segments",
  "recipient",
  "provider_segments",
  "status",
  "raw_status",
  "error_code",
  "provider",
  "provider_message_id",
  "attempts",
  "suppression_reason",
  "deferral_reason",
  "deferred_until",
  "requested_at",
  "valid_until",
  "last_event_at",
  "requested_position",
  "last_position",
] as const satisfies readonly (keyof NotificationsTable)[];

type NotificationColumns = Pick<NotificationsTable, (typeof NOTIFICATION_COLUMNS)[number]>;

/** One notification with its timeline, or undefined. `db` may be a transaction: the caller owns it. */
export async function findNotification(
  db: Kysely<TrackingTables>,
  schema: string,
  notificationId: string,
  options: PiiOption,
): Promise<NotificationDetailView | undefined> {
  const row = await db
    .withSchema(schema)
    .selectFrom("notifications")
    .select(NOTIFICATION_COLUMNS)
    .where("notification_id", "=", notificationId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const transitions = await db
    .withSchema(schema)
    .selectFrom("notification_transitions")
    .selectAll()
    .where("notification_id", "=", notificationId)
    .orderBy("seq")
    .execute();
  return { ...notificationView(row, options), timeline: transitions.map(transitionView) };
}

/**
 * Notifications in the order they were requested, one page at a time, without timelines.
 * `db` may be a transaction: the caller owns it.
 * @throws RangeError when `limit` is not a positive integer or an instant is not canonical UTC ISO
 * text (the caller validates input first).
 */
export async function listNotifications(
  db: Kysely<TrackingTables>,
  schema: string,
  filter: NotificationFilter,
): Promise<NotificationPage> {
  if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${filter.limit}`);
  }
  let query = db.withSchema(schema).selectFrom("notifications").select(NOTIFICATION_COLUMNS);
  if (filter.accountId !== undefined) query = query.where("account_id", "=", filter.accountId);
  if (filter.status !== undefined) query = query.where("status", "=", filter.status);
  if (filter.ruleId !== undefined) query = query.where("rule_id", "=", filter.ruleId);
  if (filter.provider !== undefined) query = query.where("provider", "=", filter.provider);
  // Canonical instants compare correctly as text; any other spelling would not.
  if (filter.requestedFrom !== undefined) {
    query = query.where("requested_at", ">=", instant("requestedFrom", filter.requestedFrom));
  }
  if (filter.requestedTo !== undefined) {
    query = query.where("requested_at", "<", instant("requestedTo", filter.requestedTo));
  }
  if (filter.after !== undefined) query = query.where("requested_position", ">", filter.after);
  // One more than a page tells whether another page follows.
  const rows = await query
    .orderBy("requested_position")
    .limit(filter.limit + 1)
    .execute();
  const items = rows.slice(0, filter.limit).map((row) => notificationView(row, filter));
  return { items, next: rows.length > filter.limit ? items.at(-1)?.position : undefined };
}

function instant(name: string, text: string): Instant {
  const parsed = parseInstant(text);
  if (parsed === undefined) {
    throw new RangeError(`${name} must be canonical UTC ISO text like 2026-11-24T09:00:00.000Z, got ${text}`);
  }
  return parsed;
}

function notificationView(row: NotificationColumns, options: PiiOption): NotificationView {
  return {
    notificationId: row.notification_id,
    accountId: row.account_id,
    messageClass: row.message_class,
    rule:
      row.rule_id === null || row.rule_episode === null
        ? null
        : { ruleId: row.rule_id, episode: row.rule_episode },
    templateId: row.template_id,
    variables: options.showPii ? row.variables : null,
    recipient: options.showPii ? row.recipient : maskPhone(row.recipient),
    body: options.showPii ? row.body : null,
    encoding: row.encoding,
    segments: row.segments,
    providerSegments: row.provider_segments,
    status: row.status,
    rawStatus: row.raw_status,
    errorCode: row.error_code,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    attempts: row.attempts,
    suppressionReason: row.suppression_reason,
    deferral:
      row.deferral_reason === null || row.deferred_until === null
        ? null
        : { reason: row.deferral_reason, until: row.deferred_until },
    requestedAt: row.requested_at,
    validUntil: row.valid_until,
    lastEventAt: row.last_event_at,
    position: row.requested_position,
    lastPosition: row.last_position,
  };
}

function transitionView(row: NotificationTransitionsTable): TransitionView {
  return {
    seq: row.seq,
    position: row.position,
    type: row.event_type,
    at: row.at,
    statusBefore: row.status_before,
    statusAfter: row.status_after,
    attempt: row.attempt,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    rawStatus: row.raw_status,
    errorCode: row.error_code,
    reason: row.reason,
    until: row.until,
    detail: row.detail,
  };
}

/** The statuses of a notification a provider has taken (whatever became of it later). */
const HANDED_TO_A_PROVIDER = [
  "submitted",
  "sent",
  "delivered",
  "undelivered",
  "unknown",
  "expired",
  "rejected",
] as const;

/**
 * How many notifications of `ruleId` the account was sent (handed to a provider) that were
 * requested at or after `since`, other than `except`: the SMS gateway's frequency cap.
 */
export async function countSentSince(
  db: Kysely<TrackingTables>,
  schema: string,
  accountId: string,
  ruleId: string,
  since: Instant,
  except: string,
): Promise<number> {
  const row = await db
    .withSchema(schema)
    .selectFrom("notifications")
    .select((eb) => eb.fn.countAll<string>().as("sent"))
    .where("account_id", "=", accountId)
    .where("rule_id", "=", ruleId)
    .where("notification_id", "<>", except)
    .where("requested_at", ">=", since)
    .where("status", "in", HANDED_TO_A_PROVIDER)
    .executeTakeFirst();
  return Number(row?.sent ?? 0);
}

/** One frequency-cap question: `countSentSince`'s arguments. */
interface SentSinceQuestion {
  readonly accountId: string;
  readonly ruleId: string;
  readonly since: Instant;
  readonly except: string;
}

/**
 * `countSentSince` as the SMS gateway asks it, many at once: questions asked while earlier ones
 * are on the wire leave together, as one statement (one round trip for a batch of SMS instead of
 * one each), each counted exactly as it would be alone. A batch that fails is asked again question
 * by question (the batcher's `alone`), so one bad question fails only itself.
 */
export function batchedCountSentSince(
  db: Kysely<TrackingTables>,
  schema: string,
): (accountId: string, ruleId: string, since: Instant, except: string) => Promise<number> {
  const alone = (question: SentSinceQuestion) =>
    countSentSince(db, schema, question.accountId, question.ruleId, question.since, question.except);
  const batcher = new MicroBatcher<SentSinceQuestion, number>(
    (questions) => countsSentSince(db, schema, questions),
    2,
    64,
    { alone },
  );
  return (accountId, ruleId, since, except) => batcher.submit({ accountId, ruleId, since, except });
}

async function countsSentSince(
  db: Kysely<TrackingTables>,
  schema: string,
  questions: readonly SentSinceQuestion[],
): Promise<number[]> {
  const column = <Key extends keyof SentSinceQuestion>(key: Key) =>
    questions.map((question) => question[key]);
  const { rows } = await sql<{ readonly sent: string }>`
    select (select count(*) from ${sql.id(schema, "notifications")} n
             where n.account_id = q.account_id and n.rule_id = q.rule_id
               and n.notification_id <> q.except_id and n.requested_at >= q.since
               and n.status = any(${[...HANDED_TO_A_PROVIDER]}::text[])) as sent
      from unnest(${column("accountId")}::text[], ${column("ruleId")}::text[], ${column("since")}::text[],
                  ${column("except")}::text[]) with ordinality as q(account_id, rule_id, since, except_id, i)
     order by q.i`.execute(db);
  if (rows.length !== questions.length) {
    throw new Error(`${questions.length} frequency-cap questions got ${rows.length} answers`);
  }
  return rows.map((row) => Number(row.sent));
}

/** A notification a provider accepted that has had no report for a while (see `awaitingFinalStatus`). */
export interface AwaitingStatusRow {
  readonly notification_id: string;
  readonly provider: string;
  readonly provider_message_id: string;
  readonly valid_until: string;
}

/**
 * Notifications a provider accepted (`submitted` or `sent`) with no event since `quietSince`, the
 * longest quiet first, `limit` at most: the status poller asks their providers about them.
 * `notificationsView` is the read schema's view (`"<prefix>_read".notifications`).
 */
export async function awaitingFinalStatus(
  pool: pg.Pool,
  notificationsView: string,
  quietSince: Instant,
  limit: number,
): Promise<readonly AwaitingStatusRow[]> {
  const { rows } = await pool.query<AwaitingStatusRow>(
    `select notification_id, provider, provider_message_id, valid_until from ${notificationsView}
     where status in ('submitted', 'sent') and provider_message_id is not null and last_event_at <= $1
     order by last_event_at limit $2`,
    [quietSince, limit],
  );
  return rows;
}
