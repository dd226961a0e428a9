/**
 * A point in time as canonical UTC ISO-8601 text with milliseconds ("2026-11-24T05:00:00.000Z"),
 * the form `Date.prototype.toISOString` writes. Instants of this one form compare correctly as
 * strings, travel in JSON as they are, and convert to epoch milliseconds by arithmetic alone,
 * so domain code never needs the `Date` global.
 */
export type Instant = string & { readonly __brand: "Instant" };

const DAY_MS = 86_400_000;

/** Accepts canonical UTC text only; `undefined` for anything else (including impossible dates). */
export function parseInstant(text: string): Instant | undefined {
  return toEpochMs(text) === undefined ? undefined : (text as Instant);
}

export function instantToEpochMs(instant: Instant): number {
  return toEpochMs(instant) ?? Number.NaN;
}

export function epochMsToInstant(epochMs: number): Instant {
  return fromEpochMs(epochMs) as Instant;
}

export function addMilliseconds(instant: Instant, ms: number): Instant {
  return epochMsToInstant(instantToEpochMs(instant) + ms);
}

/**
 * Epoch milliseconds of a UTC calendar date and time; a day past the month's end rolls over
 * (`day + 1` is always the next day). What domain code uses instead of `Date.UTC`.
 */
export function civilToEpochMs(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
): number {
  return (
    daysFromCivil(year, month, 1) * DAY_MS + (day - 1) * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000
  );
}

/**
 * Epoch ms of canonical text ("YYYY-MM-DDTHH:MM:SS.mmmZ", a date that exists), read digit by digit: every balance
 * a replay or a rebuild folds passes here several times, and a regular expression and a round trip
 * through text cost more than the rest of its fold.
 */
function toEpochMs(text: string): number | undefined {
  // The same few texts come back in turn (a balance's reference time and observed time, in its
  // decision and then in its fold): the last ones read are answered without reading them again.
  for (let slot = 0; slot < RECENT_SIZE; slot += 1) {
    if (recentTexts[slot] === text) return recentMs[slot];
  }
  const epochMs = readEpochMs(text);
  recentTexts[nextSlot] = text;
  recentMs[nextSlot] = epochMs;
  nextSlot = (nextSlot + 1) % RECENT_SIZE;
  return epochMs;
}

const RECENT_SIZE = 4;
const recentTexts: (string | undefined)[] = new Array<string | undefined>(RECENT_SIZE).fill(undefined);
const recentMs: (number | undefined)[] = new Array<number | undefined>(RECENT_SIZE).fill(undefined);
let nextSlot = 0;

function readEpochMs(text: string): number | undefined {
  if (text.length !== CANONICAL_FORM.length) return undefined;
  for (let index = 0; index < CANONICAL_FORM.length; index += 1) {
    const expected = CANONICAL_FORM.charCodeAt(index);
    const code = text.charCodeAt(index);
    if (expected === DIGIT ? code < 48 || code > 57 : code !== expected) return undefined;
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  const hour = digitsAt(text, 11, 13);
  const minute = digitsAt(text, 14, 16);
  const second = digitsAt(text, 17, 19);
  const milli = digitsAt(text, 20, 23);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return daysFromCivil(year, month, day) * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000 + milli;
}

/** The number the (checked) digits of `text` from `from` to `to` spell. */
function digitsAt(text: string, from: number, to: number): number {
  let value = 0;
  for (let index = from; index < to; index += 1) value = value * 10 + text.charCodeAt(index) - 48;
  return value;
}

// Every character of canonical text: "d" a digit, the others themselves.
const CANONICAL_FORM = "dddd-dd-ddTdd:dd:dd.dddZ";
const DIGIT = "d".charCodeAt(0);

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

function fromEpochMs(epochMs: number): string {
  const days = Math.floor(epochMs / DAY_MS);
  let rest = epochMs - days * DAY_MS;
  const [year, month, day] = civilFromDays(days);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}.${pad(milli, 3)}Z`;
}

// Howard Hinnant's days-from-civil / civil-from-days (proleptic Gregorian calendar).
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/** Negative when `a` is earlier than `b`, zero when equal, positive when later. */
export function compareInstants(a: Instant, b: Instant): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
