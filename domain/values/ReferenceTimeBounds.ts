import { instantToEpochMs, type Instant } from "./Instant.ts";

/**
 * How far a balance's reference time (the bank's time for it) may lie from `now` when it is
 * recorded. Reference times order observations, so one far in the future would make every later
 * balance stale and silence the account for ever; one far in the past is not a balance of today.
 */
export interface ReferenceTimeBounds {
  /** At most this far after `now` (clocks drift; a bank's clock may run a little ahead). */
  readonly maxFutureSkewMs: number;
  /** At most this far before `now`. */
  readonly maxAgeMs: number;
}

/**
 * 5 minutes into the future (generous clock skew, far below any alert's meaning); 7 days into the
 * past (an end-of-day file delayed over a long weekend or a bank holiday still counts; anything
 * older says nothing about the customer's balance today).
 */
export const DEFAULT_REFERENCE_TIME_BOUNDS: ReferenceTimeBounds = {
  maxFutureSkewMs: 5 * 60_000,
  maxAgeMs: 7 * 86_400_000,
};

/** Where a reference time falls: within the bounds around `now` (both ends included), or beyond one. */
export function placeReferenceTime(
  bounds: ReferenceTimeBounds,
  referenceTime: Instant,
  now: Instant,
): "within" | "too-far-ahead" | "too-old" {
  const offsetMs = instantToEpochMs(referenceTime) - instantToEpochMs(now);
  if (offsetMs > bounds.maxFutureSkewMs) return "too-far-ahead";
  if (offsetMs < -bounds.maxAgeMs) return "too-old";
  return "within";
}
