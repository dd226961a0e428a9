import test from "ava";
import { parseInstant, type Instant } from "../values/Instant.ts";
import { MESSAGE_CLASSES, type MessageClass } from "../values/MessageClass.ts";
import { parsePhoneNumber, type PhoneNumber } from "../values/PhoneNumber.ts";
import { classPriority, deliveryPriority, HIGHEST_DELIVERY_PRIORITY } from "./deliveryPriority.ts";
import type { NotificationEvent } from "./NotificationEvent.ts";

function at(text: string): Instant {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`bad instant in test: ${text}`);
  return instant;
}

function phone(text: string): PhoneNumber {
  const parsed = parsePhoneNumber(text);
  if (parsed === undefined) throw new Error(`bad phone number in test: ${text}`);
  return parsed;
}

function requested(messageClass: MessageClass): NotificationEvent {
  return {
    type: "NotificationRequested",
    data: {
      notificationId: "n-1",
      accountId: "acc-42",
      messageClass,
      templateId: "t",
      variables: {},
      body: "hello",
      encoding: "GSM-7",
      segments: 1,
      recipient: phone("+447911123456"),
      validUntil: at("2025-01-16T12:00:00.000Z"),
      requestedAt: at("2025-01-15T12:00:00.000Z"),
    },
  };
}

test("a service alert is handed over before a marketing offer; marketing counts as no priority at all", (t) => {
  t.is(deliveryPriority(requested("service")), 1);
  t.is(deliveryPriority(requested("marketing")), 0);
  t.is(HIGHEST_DELIVERY_PRIORITY, 1);
});

test("every class has a priority from 0 to the highest, one per class, in sending order", (t) => {
  const priorities = MESSAGE_CLASSES.map(classPriority);
  t.is(new Set(priorities).size, priorities.length, "no two classes share one");
  for (const priority of priorities) t.true(priority >= 0 && priority <= HIGHEST_DELIVERY_PRIORITY);
  t.true(classPriority("service") > classPriority("marketing"));
});

test("events that send nothing have no priority", (t) => {
  const at0 = at("2025-01-15T12:00:00.000Z");
  const others: NotificationEvent[] = [
    { type: "NotificationSuppressed", data: { reason: "opted-out", at: at0 } },
    { type: "NotificationDeferred", data: { until: at0, reason: "quiet-hours", at: at0 } },
    { type: "SmsSubmissionStarted", data: { attempt: 1, provider: "p", at: at0 } },
    { type: "NotificationCancelled", data: { by: "ops", at: at0 } },
  ];
  for (const event of others) t.is(deliveryPriority(event), undefined, event.type);
});
