/** An IANA time zone name ("Europe/London"). */
export type TimeZone = string & { readonly __brand: "TimeZone" };

const KNOWN = new Set(Intl.supportedValuesOf("timeZone"));

/** Accepts IANA names the runtime knows (plus "UTC"); `undefined` otherwise. */
export function parseTimeZone(text: string): TimeZone | undefined {
  return KNOWN.has(text) || text === "UTC" ? (text as TimeZone) : undefined;
}

/** The local wall-clock hour and minute at an instant (epoch ms) in a zone (pure: Intl, no clock). */
export function localTime(
  epochMs: number,
  zone: TimeZone,
): { readonly hour: number; readonly minute: number } {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(epochMs);
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? "0");
  return { hour: value("hour"), minute: value("minute") };
}
