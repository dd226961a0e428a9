import { unreachable } from "../Decider.ts";
import { SENDING_ORDER, type MessageClass } from "../values/MessageClass.ts";
import type { NotificationEvent } from "./NotificationEvent.ts";

/**
 * The highest delivery priority `deliveryPriority` gives: the number of levels above 0 a queue
 * ordering notifications by it must hold (the SMS gateway's RabbitMQ queue: `x-max-priority`).
 */
export const HIGHEST_DELIVERY_PRIORITY = SENDING_ORDER.length - 1;

/**
 * How soon a message of `messageClass` should be handed to the SMS gateway, higher first, in
 * `SENDING_ORDER`: service alerts 1, marketing offers 0. The last class gets 0 — what a message
 * with no priority counts as — so a request published without one (by a relay not yet upgraded)
 * waits with the marketing offers, as it did in a first-in-first-out queue, never behind them.
 */
export function classPriority(messageClass: MessageClass): number {
  return HIGHEST_DELIVERY_PRIORITY - SENDING_ORDER.indexOf(messageClass);
}

/**
 * The delivery priority of a notification event, when it asks for a message to be sent: the
 * request's class decides (`classPriority`). Undefined for events that send nothing: their order
 * is the log's.
 */
export function deliveryPriority(event: NotificationEvent): number | undefined {
  switch (event.type) {
    case "NotificationRequested":
      return classPriority(event.data.messageClass);
    case "NotificationSuppressed":
    case "NotificationDeferred":
    case "SmsSubmissionStarted":
    case "SmsSubmitted":
    case "SmsSubmissionFailed":
    case "SmsStatusReported":
    case "SmsValidityLapsed":
    case "NotificationCancelled":
      return undefined;
    default:
      return unreachable(event);
  }
}
