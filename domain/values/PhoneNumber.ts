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

/**
 * `parsePhoneNumber` that remembers its answers, for one long pass over many events (checking a
 * number against its plan costs tens of microseconds, and a replay checks each account's phone
 * at every alert). Its memory is the caller's: it goes when the caller drops it.
 */
export function rememberingPhoneParser(): (text: string) => PhoneNumber | undefined {
  const checked = new Map<string, PhoneNumber | undefined>();
  return (text) => {
    if (checked.has(text)) return checked.get(text);
    const phone = parsePhoneNumber(text);
    checked.set(text, phone);
    return phone;
  };
}
