import { civilToEpochMs, epochMsToInstant, instantToEpochMs, type Instant } from "../values/Instant.ts";
import type { TimeZone } from "../values/TimeZone.ts";
import type { QuietHours } from "./Rule.ts";

/**
 * When the quiet hours that `at` falls in end, in the customer's time zone; undefined when `at`
 * is outside them (sending is allowed). A window whose start is after its end wraps midnight
 * ("21:00"–"08:00"); an empty window ("08:00"–"08:00") is never quiet. Daylight-saving changes
 * are honoured: the end is the instant the customer's clock shows the end time (or, on the night
 * the clocks skip that time, the first instant after it).
 */
export function quietHoursEnd(at: Instant, zone: TimeZone, quiet: QuietHours): Instant | undefined {
  const start = minutesOfDay(quiet.start);
  const end = minutesOfDay(quiet.end);
  if (start === end) return undefined;
  const atMs = instantToEpochMs(at);
  const local = wallClock(atMs, zone);
  const now = local.hour * 60 + local.minute;
  const wraps = start > end;
  const inside = wraps ? now >= start || now < end : now >= start && now < end;
  if (!inside) return undefined;
  const endsNextDay = wraps && now >= start;
  const endWall = civilToEpochMs(
    local.year,
    local.month,
    local.day + (endsNextDay ? 1 : 0),
    Math.floor(end / 60),
    end % 60,
  );
  return epochMsToInstant(Math.max(atMs + 1, wallToEpochMs(endWall, zone)));
}

/** "HH:MM" → minutes after midnight. @throws RangeError for anything else (rules are validated on load). */
function minutesOfDay(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match === null) throw new RangeError(`not a time of day: ${text}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** The customer's calendar and clock at an instant (pure: Intl's time zone data, no clock). */
function wallClock(epochMs: number, zone: TimeZone): WallClock {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(epochMs);
  const value = (type: Intl.DateTimeFormatPartTypes) =>
    Number(parts.find((part) => part.type === type)?.value ?? "0");
  return {
    year: value("year"),
    month: value("month"),
    day: value("day"),
    hour: value("hour"),
    minute: value("minute"),
    second: value("second"),
  };
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich). */
function offsetMs(epochMs: number, zone: TimeZone): number {
  const local = wallClock(epochMs, zone);
  const wallAsUtc = civilToEpochMs(
    local.year,
    local.month,
    local.day,
    local.hour,
    local.minute,
    local.second,
  );
  return wallAsUtc - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The instant a wall-clock time (given as if it were UTC) happens in the zone; twice corrected for
 * DST. A time the clocks skip (spring forward) never happens: then the first instant after it,
 * when the clocks show the end of the gap.
 */
function wallToEpochMs(wallAsUtc: number, zone: TimeZone): number {
  const first = wallAsUtc - offsetMs(wallAsUtc, zone);
  const instant = wallAsUtc - offsetMs(first, zone);
  if (instant + offsetMs(instant, zone) === wallAsUtc) return instant;
  // Skipped: `instant` falls before the gap, `first` after it. The gap begins at a whole minute.
  let before = Math.min(instant, first);
  let after = Math.max(instant, first);
  const offsetBefore = offsetMs(before, zone);
  while (after - before > 60_000) {
    const middle = before + Math.max(1, Math.floor((after - before) / 120_000)) * 60_000;
    if (offsetMs(middle, zone) === offsetBefore) before = middle;
    else after = middle;
  }
  return after;
}
