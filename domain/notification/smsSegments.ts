/** How an SMS body is encoded on the air: 7-bit GSM default alphabet, or UCS-2 (UTF-16). */
export type SmsEncoding = "GSM-7" | "UCS-2";

/**
 * What a body costs to send. `units` are septets for GSM-7 (extension characters take two) or
 * UTF-16 code units for UCS-2; `segments` is how many SMS the provider bills.
 */
export interface SmsSegmentCount {
  readonly encoding: SmsEncoding;
  readonly units: number;
  readonly segments: number;
}

// GSM 03.38 default alphabet, without the escape code 0x1B itself.
const GSM_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
// Reached through the escape code, so each costs two septets.
const GSM_EXTENSION = new Set("\f^{}\\[~]|€");

const LIMITS = {
  "GSM-7": { single: 160, perPart: 153 },
  "UCS-2": { single: 70, perPart: 67 },
} as const;

/**
 * Counts the segments of an SMS body the way carriers split it: GSM-7 if every character is in
 * the default alphabet or its extension table, UCS-2 otherwise (one emoji or "ł" switches the
 * whole message). One segment holds 160 septets / 70 units; a concatenated message loses room to
 * its header, 153 / 67 per part, and never splits an escape pair or a surrogate pair across parts.
 * An empty body is 0 segments. National language shift tables are not considered.
 */
export function smsSegments(body: string): SmsSegmentCount {
  // Code points, not graphemes: carriers encode and split code points, whatever an emoji looks like.
  const characters = Array.from(body);
  const gsm = characters.every((character) => GSM_BASIC.has(character) || GSM_EXTENSION.has(character));
  const encoding: SmsEncoding = gsm ? "GSM-7" : "UCS-2";
  const sizes = characters.map((character) =>
    gsm ? (GSM_EXTENSION.has(character) ? 2 : 1) : character.length,
  );
  const units = sizes.reduce((sum, size) => sum + size, 0);
  return { encoding, units, segments: countSegments(sizes, units, LIMITS[encoding]) };
}

function countSegments(
  sizes: readonly number[],
  units: number,
  limits: { readonly single: number; readonly perPart: number },
): number {
  if (units === 0) return 0;
  if (units <= limits.single) return 1;
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > limits.perPart) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return segments;
}
