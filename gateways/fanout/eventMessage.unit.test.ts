import test from "ava";
import type { JsonObject, RecordedEvent } from "../eventStore/EventStore.ts";
import { positionOf } from "../eventStore/Position.ts";
import { HIGHEST_DELIVERY_PRIORITY } from "../../domain/notification/deliveryPriority.ts";
import { MAX_MESSAGE_PRIORITY } from "./amqpTopology.ts";
import { fromEventMessageBody, messagePriority, toEventMessage } from "./eventMessage.ts";

function recorded(streamId: string, type: string, data: JsonObject): RecordedEvent {
  return {
    id: "6f1c2f5e-0000-4000-8000-000000000001",
    streamId,
    type,
    revision: 0,
    position: positionOf(7n, 3n),
    recordedAt: new Date("2026-01-15T10:00:00.000Z"),
    data,
    metadata: { correlationId: "c-1", actor: "test" },
  };
}

function request(messageClass: string): RecordedEvent {
  return recorded("notification-n-1", "NotificationRequested", {
    notificationId: "n-1",
    accountId: "acc-1",
    messageClass,
    templateId: "t",
    variables: {},
    body: "hello",
    encoding: "GSM-7",
    segments: 1,
    recipient: "+447911123456",
    validUntil: "2026-01-15T11:00:00.000Z",
    requestedAt: "2026-01-15T10:00:00.000Z",
  });
}

test("a service alert's request is published with a higher priority than a marketing offer's", (t) => {
  const service = toEventMessage(request("service")).options.priority;
  const marketing = toEventMessage(request("marketing")).options.priority;
  t.is(service, 1);
  t.is(marketing, 0);
  t.true(service !== undefined && service <= MAX_MESSAGE_PRIORITY, "within the queue's x-max-priority");
});

test("events that ask for no SMS are published without a priority; their body is unchanged", (t) => {
  const observed = recorded("account-acc-1", "BalanceObserved", { amount: "100" });
  const message = toEventMessage(observed);
  t.is(message.options.priority, undefined);
  t.is(messagePriority(recorded("notification-n-1", "SmsSubmitted", { attempt: 1 })), undefined);
  t.deepEqual(fromEventMessageBody(message.body), observed);
});

test("the queues' x-max-priority reaches the highest class priority the relay gives, and no higher", (t) => {
  // A deployed queue's x-max-priority cannot change: a class added above it needs new queues.
  t.is(MAX_MESSAGE_PRIORITY, HIGHEST_DELIVERY_PRIORITY);
});
