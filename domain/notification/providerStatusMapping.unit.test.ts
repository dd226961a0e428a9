import test from "ava";
import { mapProviderStatus } from "./providerStatusMapping.ts";

test("every Twilio status maps to a normalised status", (t) => {
  const expected = {
    queued: "submitted",
    accepted: "submitted",
    scheduled: "submitted",
    sending: "submitted",
    sent: "sent",
    delivered: "delivered",
    read: "delivered",
    undelivered: "undelivered",
    partially_delivered: "undelivered",
    failed: "failed",
    canceled: "cancelled",
  } as const;
  for (const [raw, status] of Object.entries(expected)) {
    t.like(mapProviderStatus("twilio", raw, null), { outcome: "mapped", status, rawStatus: raw }, raw);
  }
});

test("every SMPP delivery-receipt state maps to a normalised status", (t) => {
  const expected = {
    ENROUTE: "sent",
    DELIVRD: "delivered",
    EXPIRED: "expired",
    DELETED: "cancelled",
    UNDELIV: "undelivered",
    ACCEPTD: "sent",
    UNKNOWN: "unknown",
    REJECTD: "rejected",
  } as const;
  for (const [raw, status] of Object.entries(expected)) {
    t.like(mapProviderStatus("smpp", raw, null), { outcome: "mapped", status, rawStatus: raw }, raw);
  }
});

test("the raw status and error code are kept exactly as the provider sent them", (t) => {
  t.deepEqual(mapProviderStatus("twilio", " Undelivered ", "30003"), {
    outcome: "mapped",
    status: "undelivered",
    rawStatus: " Undelivered ",
    errorCode: "30003",
  });
  t.like(mapProviderStatus("smpp", "delivrd", "000"), { outcome: "mapped", status: "delivered" });
});

test("a raw status we do not know is an unmapped result, not a throw or a guess", (t) => {
  t.deepEqual(mapProviderStatus("twilio", "teleported", "30008"), {
    outcome: "unmapped",
    dialect: "twilio",
    rawStatus: "teleported",
    errorCode: "30008",
  });
  t.like(mapProviderStatus("twilio", "DELIVRD", null), { outcome: "unmapped" });
  t.like(mapProviderStatus("smpp", "delivered", null), { outcome: "unmapped" });
  for (const raw of ["", "constructor", "__proto__", "toString", "hasOwnProperty"]) {
    t.like(mapProviderStatus("twilio", raw, null), { outcome: "unmapped" }, raw);
  }
});
