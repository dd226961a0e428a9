import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The `X-Twilio-Signature` of a request Twilio sends (or our simulator sends the way Twilio does):
 * base64 of HMAC-SHA1, keyed with the account's auth token, over the full URL followed by every
 * POST parameter's name and value, sorted by name.
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string>>,
): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, name) => text + name + (params[name] ?? ""), url);
  return createHmac("sha1", authToken).update(data, "utf8").digest("base64");
}

/** Whether `signature` is the one `twilioSignature` gives, compared in constant time. */
export function isValidTwilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string>>,
  signature: string,
): boolean {
  const expected = Buffer.from(twilioSignature(authToken, url, params));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
