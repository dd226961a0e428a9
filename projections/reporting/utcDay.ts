/** Canonical UTC instant text (see domain/values/Instant.ts), the only form events carry. */
const CANONICAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The UTC date ("YYYY-MM-DD") of an event's instant, which must be canonical UTC text: the
 * cohort a count goes to. `what` names the field for the error a malformed instant raises.
 * (A pattern check rather than `parseInstant`: this runs for most events of a rebuild.)
 */
export function utcDay(instant: string, what: string): string {
  if (!CANONICAL_INSTANT.test(instant))
    throw new Error(`${what} "${instant}" is not a canonical UTC instant`);
  return instant.slice(0, "YYYY-MM-DD".length);
}
