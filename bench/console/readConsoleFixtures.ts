import type pg from "pg";

/** What the rebuilt read models hold that the measurements depend on. */
export interface ConsoleFixtures {
  /** The last day with a funnel row: the browser's "today", so the overview's 7 days cover the log. */
  readonly lastReportDay: string;
  /** The busy account's timeline entries: what "all of its timeline" means. */
  readonly busyTimelineEvents: number;
  /** The largest timeline among the other accounts, for contrast. */
  readonly largestOtherTimeline: number;
}

/**
 * Reads the read models under `readSchema` (the views onto the live builds).
 * @throws Error when the reporting read model is empty or the busy account has no timeline.
 */
export async function readConsoleFixtures(
  pool: pg.Pool,
  readSchema: string,
  busyAccountId: string,
): Promise<ConsoleFixtures> {
  const { rows: days } = await pool.query<{ day: string | null }>(
    `select max(day) as day from "${readSchema}".reporting_funnel_counts`,
  );
  const lastReportDay = days[0]?.day ?? null;
  if (lastReportDay === null) throw new Error("the reporting read model has no funnel rows");
  const { rows: counts } = await pool.query<{ account_id: string; entries: number }>(
    `select account_id, count(*)::int as entries from "${readSchema}".timeline_entries
      group by account_id order by entries desc limit 2`,
  );
  const busy = counts.find((row) => row.account_id === busyAccountId);
  if (busy === undefined)
    throw new Error(`the timeline holds nothing for ${busyAccountId}, or it is not the largest`);
  return {
    lastReportDay,
    busyTimelineEvents: busy.entries,
    largestOtherTimeline: counts.find((row) => row.account_id !== busyAccountId)?.entries ?? 0,
  };
}
