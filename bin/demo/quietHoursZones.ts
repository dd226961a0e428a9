import { quietHoursEnd } from "../../domain/rules/quietHours.ts";
import type { QuietHours } from "../../domain/rules/Rule.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";

/** Zones a whole hour apart, from UTC−11 to UTC+14: whatever the time, one is at night. */
const CANDIDATE_ZONES = [
  "Pacific/Pago_Pago",
  "Pacific/Honolulu",
  "America/Anchorage",
  "America/Los_Angeles",
  "America/Denver",
  "America/Chicago",
  "America/New_York",
  "America/Halifax",
  "America/Sao_Paulo",
  "America/Noronha",
  "Atlantic/Azores",
  "Europe/London",
  "Europe/Berlin",
  "Europe/Athens",
  "Europe/Moscow",
  "Asia/Dubai",
  "Asia/Karachi",
  "Asia/Dhaka",
  "Asia/Bangkok",
  "Asia/Shanghai",
  "Asia/Tokyo",
  "Australia/Brisbane",
  "Pacific/Noumea",
  "Pacific/Fiji",
  "Pacific/Auckland",
  "Pacific/Kiritimati",
] as TimeZone[];

/** How long a zone must stay as chosen: the demo, and a test reading its examples, take minutes. */
const MARGIN_MS = 2 * 3_600_000;

/**
 * A zone where it is inside `quiet` now and still will be in two hours (a notification to it is
 * deferred), and one where it is outside now and in two hours (sent at once); computed from the
 * domain's own quiet-hours rule, at `nowMs`. Undefined where no candidate fits.
 */
export function quietHoursZones(
  nowMs: number,
  quiet: QuietHours,
): { readonly night: TimeZone | undefined; readonly day: TimeZone | undefined } {
  const quietAt = (zone: TimeZone, atMs: number) =>
    quietHoursEnd(epochMsToInstant(atMs), zone, quiet) !== undefined;
  return {
    night: CANDIDATE_ZONES.find((zone) => quietAt(zone, nowMs) && quietAt(zone, nowMs + MARGIN_MS)),
    day: CANDIDATE_ZONES.find((zone) => !quietAt(zone, nowMs) && !quietAt(zone, nowMs + MARGIN_MS)),
  };
}
