import { civilToEpochMs, epochMsToInstant, type Instant } from "../../domain/values/Instant.ts";

// RFC 3339 (what Open Banking's `format: date-time` means): the zone is required.
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An Open Banking `ISODateTime` ("All date-time fields in responses must include the timezone")
 * as the UTC instant it names; `undefined` for text without a zone, which `new Date` would read in
 * the process's own zone, and for anything that is not a real date and time. Fractions below a
 * millisecond are dropped.
 */
export function parseObDateTime(text: string): Instant | undefined {
  const match = DATE_TIME.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction = "", , sign, offsetHours, offsetMinutes] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const local = civilToEpochMs(y, mo, d, h, mi, s);
  // A day past the month's end rolls over in civilToEpochMs: refuse it instead.
  if (!epochMsToInstant(local).startsWith(`${year}-${month}-${day}`)) return undefined;
  const offsetMs =
    sign === undefined
      ? 0
      : (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return undefined;
  return epochMsToInstant(local + Number(fraction.slice(0, 3).padEnd(3, "0")) - offsetMs);
}
