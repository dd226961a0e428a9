import { parsePhoneNumberFromString } from "libphonenumber-js/max";

/** A phone number in E.164 form ("+447911123456"), checked against real numbering plans. */
export type PhoneNumber = string & { readonly __brand: "PhoneNumber" };

/**
 * Accepts only numbers already in E.164 form that are valid for their country (libphonenumber
 * metadata, a pure library: no I/O). Returns `undefined` otherwise.
 */
export function parsePhoneNumber(text: string): PhoneNumber | undefined {
  if (!/^\+[1-9]\d{6,14}$/.test(text)) return undefined;
  // Checking a number against its plan costs tens of microseconds, and the same numbers come back
  // (every alert to an account checks its phone): answers are kept, up to a bounded number.
  if (checked.has(text)) return checked.get(text);
  const parsed = parsePhoneNumberFromString(text);
  const phone =
    parsed?.isValid() === true && parsed.number === text ? (parsed.number as PhoneNumber) : undefined;
  if (checked.size >= CHECKED_LIMIT) checked.clear();
  checked.set(text, phone);
  return phone;
}

const CHECKED_LIMIT = 100_000;
const checked = new Map<string, PhoneNumber | undefined>();
