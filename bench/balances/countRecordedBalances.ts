import type pg from "pg";

/**
 * Balances of one file in the log of `schema`: the BalanceObserved events at the file's
 * `referenceTime` that are not stale (each moved its account's state). What both paths of the
 * balances benchmark must reach, one per row, before their time counts.
 */
export async function countRecordedBalances(
  pool: pg.Pool,
  schema: string,
  referenceTime: string,
): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select count(*) as n from "${schema}".events
      where event_type = 'BalanceObserved'
        and (data->>'referenceTime')::timestamptz = $1::timestamptz
        and data->>'stale' = 'false'`,
    [referenceTime],
  );
  return Number(rows[0]?.n ?? 0);
}
