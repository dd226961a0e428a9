import { parsePhoneNumberFromString } from "libphonenumber-js/max";

/** A phone number in E.164 form ("+447911123456"), checked against real numbering plans. */
export type PhoneNumber = string & { readonly __brand: "PhoneNumber" };

/**
 * Accepts only numbers already in E.164 form that are valid for their country (libphonenumber
 * metadata, a pure library: no I/O). Returns `undefined` otherwise.
 */
export function parsePhoneNumber(text: string): PhoneNumber | undefined {
  if (!/^\+[1-9]\d{6,14}$/.test(text)) return undefined;
  const parsed = parsePhoneNumberFromString(text);
  return parsed?.isValid() === true && parsed.number === text ? (parsed.number as PhoneNumber) : undefined;
}
