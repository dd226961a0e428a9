import { sql, type Kysely } from "kysely";
import type { Instant } from "../../domain/values/Instant.ts";
import type { TrackingTables } from "./TrackingTables.ts";

/** How one SMS provider has done since a moment, from the tracking read model's timelines. */
export interface ProviderHealth {
  readonly provider: string;
  /** Submission attempts started on it (`SmsSubmissionStarted`). */
  readonly submissions: number;
  /** Attempts it accepted (`SmsSubmitted`). */
  readonly accepted: number;
  /** Attempts it did not accept (`SmsSubmissionFailed`, retryable or not). */
  readonly failed: number;
  /** Failed attempts on it after which the next attempt went to another provider. */
  readonly failovers: number;
  /** Reports that moved a notification to `delivered` / `undelivered`. */
  readonly delivered: number;
  readonly undelivered: number;
  /** Its latest failed attempt in the window. */
  readonly lastFailure: { readonly errorCode: string; readonly at: Instant } | null;
}

interface ProviderRow {
  provider: string;
  submissions: string;
  accepted: string;
  failed: string;
  failovers: string;
  delivered: string;
  undelivered: string;
  last_failure_code: string | null;
  last_failure_at: Instant | null;
}

/**
 * Every provider with an attempt or a report at or after `since` (the events' own times), by
 * name. A failover is counted against the provider that failed: an attempt on another provider
 * that directly follows (in the notification's timeline) a failed attempt on it. One statement:
 * the window's rows are read once (the timeline has no index on time), and only the
 * notifications with a second attempt in it are read whole, through the timeline's primary key.
 */
export async function providerHealth(
  db: Kysely<TrackingTables>,
  schema: string,
  since: Instant,
): Promise<ProviderHealth[]> {
  const transitions = sql.table(`${schema}.notification_transitions`);
  const { rows } = await sql<ProviderRow>`
    with recent as materialized (
      select notification_id, seq, event_type, provider, error_code, at, attempt, status_before, status_after
      from ${transitions}
      where at >= ${since} and provider is not null
        and event_type in ('SmsSubmissionStarted', 'SmsSubmitted', 'SmsSubmissionFailed', 'SmsStatusReported')
    ),
    counts as (${countsPerProvider()}),
    failovers as (${failoversPerProvider(transitions, since)})
    select provider,
      coalesce(submissions, 0) as submissions, coalesce(accepted, 0) as accepted,
      coalesce(failed, 0) as failed, coalesce(failovers, 0) as failovers,
      coalesce(delivered, 0) as delivered, coalesce(undelivered, 0) as undelivered,
      last_failure_code, last_failure_at
    from counts full join failovers using (provider)
    order by provider`.execute(db);
  return rows.map((row) => ({
    provider: row.provider,
    submissions: Number(row.submissions),
    accepted: Number(row.accepted),
    failed: Number(row.failed),
    failovers: Number(row.failovers),
    delivered: Number(row.delivered),
    undelivered: Number(row.undelivered),
    lastFailure:
      row.last_failure_at === null
        ? null
        : { errorCode: row.last_failure_code ?? "", at: row.last_failure_at },
  }));
}

/** Per provider, from `recent`: attempts, acceptances, failures, outcomes reported, the last failure. */
function countsPerProvider() {
  const moved = sql`event_type = 'SmsStatusReported' and status_before is distinct from status_after`;
  return sql`
    select provider,
      count(*) filter (where event_type = 'SmsSubmissionStarted') as submissions,
      count(*) filter (where event_type = 'SmsSubmitted') as accepted,
      count(*) filter (where event_type = 'SmsSubmissionFailed') as failed,
      count(*) filter (where ${moved} and status_after = 'delivered') as delivered,
      count(*) filter (where ${moved} and status_after = 'undelivered') as undelivered,
      (array_agg(error_code order by at desc, seq desc) filter (where event_type = 'SmsSubmissionFailed'))[1]
        as last_failure_code,
      max(at) filter (where event_type = 'SmsSubmissionFailed') as last_failure_at
    from recent group by provider`;
}

/**
 * Per provider failed over from: attempts in the window whose previous attempt event in the same
 * notification (started, accepted or failed) failed on another provider.
 */
function failoversPerProvider(transitions: ReturnType<typeof sql.table>, since: Instant) {
  return sql`
    select previous_provider as provider, count(*) as failovers
    from (
      select event_type, provider, at,
        lag(event_type) over timeline as previous_type,
        lag(provider) over timeline as previous_provider
      from ${transitions}
      where event_type in ('SmsSubmissionStarted', 'SmsSubmitted', 'SmsSubmissionFailed')
        and notification_id in (
          select notification_id from recent where event_type = 'SmsSubmissionStarted' and attempt > 1
        )
      window timeline as (partition by notification_id order by seq)
    ) as attempts
    where event_type = 'SmsSubmissionStarted' and at >= ${since}
      and previous_type = 'SmsSubmissionFailed' and previous_provider <> provider
    group by previous_provider`;
}
