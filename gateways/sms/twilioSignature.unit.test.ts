import test from "ava";
import fc from "fast-check";
import twilio from "twilio";
import { isValidTwilioSignature, twilioSignature } from "./twilioSignature.ts";

test("signs as Twilio's own library does, for any URL and parameters", (t) => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.webUrl({ withQueryParameters: true }),
      fc.dictionary(fc.string({ minLength: 1 }), fc.string()),
      (token, url, params) => {
        t.is(twilioSignature(token, url, params), twilio.getExpectedTwilioSignature(token, url, params));
      },
    ),
  );
});

test("a changed parameter, URL or token fails the check", (t) => {
  const params = { MessageSid: "SM1", MessageStatus: "delivered" };
  const signature = twilioSignature("token", "https://example.test/sms/status?ref=1", params);
  t.true(isValidTwilioSignature("token", "https://example.test/sms/status?ref=1", params, signature));
  t.true(twilio.validateRequest("token", signature, "https://example.test/sms/status?ref=1", params));
  t.false(isValidTwilioSignature("token", "https://example.test/sms/status?ref=2", params, signature));
  t.false(isValidTwilioSignature("other", "https://example.test/sms/status?ref=1", params, signature));
  t.false(
    isValidTwilioSignature(
      "token",
      "https://example.test/sms/status?ref=1",
      { ...params, MessageStatus: "failed" },
      signature,
    ),
  );
  t.false(isValidTwilioSignature("token", "https://example.test/sms/status?ref=1", params, ""));
});
