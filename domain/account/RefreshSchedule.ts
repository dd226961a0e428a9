/**
 * When an account's balance is pulled unattended (PSD2 allows four such reads a day).
 *
 * Every account refreshes on a phase of its own within the period, derived from its id, so that
 * accounts opened together (a bulk import, a million in one minute) come due spread over the whole
 * period instead of together, and a restart or a second scheduler computes the same times. An
 * account's first refresh waits at least `firstDelayMs` after it joins the schedule: a balance
 * pushed by the bank when the account opened must not be replaced at once by a pulled one.
 */
export interface RefreshSchedule {
  /** Between two scheduled refreshes of one account. */
  readonly periodMs: number;
  /** At least this long between an account joining the schedule and its first refresh. */
  readonly firstDelayMs: number;
}

/** The account's offset within the period, in [0, periodMs): its refreshes come at phase + k·period. */
export function refreshPhaseMs(accountId: string, periodMs: number): number {
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) {
    throw new RangeError(`periodMs must be a positive integer, got ${periodMs}`);
  }
  return Math.floor((hash32(accountId) / 2 ** 32) * periodMs);
}

/** The account's first refresh: its first slot at or after `joinedAtMs + firstDelayMs`. */
export function firstRefreshDue(accountId: string, joinedAtMs: number, schedule: RefreshSchedule): number {
  return slotAtOrAfter(accountId, joinedAtMs + schedule.firstDelayMs, schedule.periodMs);
}

/**
 * The refresh after one served at `servedAtMs`: normally one period after the slot it served; never
 * sooner than half a period after it was served, so a scheduler that ran late (down for hours)
 * does not pull a balance twice in a row.
 */
export function nextRefreshDue(accountId: string, servedAtMs: number, schedule: RefreshSchedule): number {
  return slotAtOrAfter(accountId, servedAtMs + Math.floor(schedule.periodMs / 2), schedule.periodMs);
}

function slotAtOrAfter(accountId: string, earliestMs: number, periodMs: number): number {
  const phase = refreshPhaseMs(accountId, periodMs);
  return Math.ceil((earliestMs - phase) / periodMs) * periodMs + phase;
}

/**
 * FNV-1a over the id's UTF-16 code units, then MurmurHash3's 32-bit finaliser (FNV alone leaves
 * ids that differ in their last character close together). Not a secret; only a spread.
 */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
