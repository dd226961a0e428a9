import test from "ava";
import fc from "fast-check";
import { stateFrom } from "../Decider.ts";
import { parsePhoneNumber } from "../values/PhoneNumber.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { NotificationCommand } from "./NotificationCommand.ts";
import type { NotificationEvent } from "./NotificationEvent.ts";
import { notificationDecider } from "./notificationDecider.ts";
import type { NotificationState } from "./NotificationState.ts";
import { isFinal, statusRank } from "./NotificationStatus.ts";
import { providerStatusMapping } from "./providerStatusMapping.ts";
import type { StatusDialect } from "./providerStatusMapping.ts";
import { parseInstant } from "../values/Instant.ts";
import type { Instant } from "../values/Instant.ts";

const instant = (text: string): Instant => parseInstant(text)!;
const notificationId = "n-1";
const VALID_UNTIL = instant("2025-03-03T21:30:00.000Z");

const submittedHistory: readonly NotificationEvent[] = [
  {
    type: "NotificationRequested",
    data: {
      notificationId,
      accountId: "acc-42",
      messageClass: "service",
      templateId: "t",
      variables: {},
      body: "Your balance is low.",
      encoding: "GSM-7",
      segments: 1,
      recipient: parsePhoneNumber("+447911123456") as PhoneNumber,
      validUntil: VALID_UNTIL,
      requestedAt: instant("2025-03-01T21:30:00.000Z"),
    },
  },
  { type: "SmsSubmissionStarted", data: { attempt: 1, provider: "twilio", at: VALID_UNTIL } },
  {
    type: "SmsSubmitted",
    data: { attempt: 1, provider: "twilio", providerMessageId: "SM1", segments: 1, at: VALID_UNTIL },
  },
];

const rawStatus = (dialect: StatusDialect) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...Object.keys(providerStatusMapping[dialect])) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...Object.keys(providerStatusMapping[dialect])).map((s) => s.toUpperCase()),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom("receiving", "teleported", "constructor", "", "DELIVERED"),
    },
  );

const report: fc.Arbitrary<NotificationCommand> = fc
  .constantFrom<StatusDialect>("twilio", "smpp")
  .chain((dialect) =>
    fc.record({
      dialect: fc.constant(dialect),
      rawStatus: rawStatus(dialect),
      errorCode: fc.option(fc.constantFrom("30003", "30005", "000"), { nil: null }),
      via: fc.constantFrom("poll", "webhook" as const),
    }),
  )
  .map((data) => ({
    type: "ReportSmsStatus",
    data: { notificationId, provider: "twilio", reportedAt: VALID_UNTIL, ...data },
  }));

const expireToUnknown: NotificationCommand = {
  type: "ExpireToUnknown",
  data: { notificationId, now: instant("2025-03-04T00:00:00.000Z") },
};

const steps = fc.array(
  fc.oneof({ weight: 9, arbitrary: report }, { weight: 1, arbitrary: fc.constant(expireToUnknown) }),
  {
    maxLength: 40,
  },
);

function assertForward(before: NotificationState, after: NotificationState): void {
  if (before.status === "absent" || after.status === "absent") throw new Error("the notification vanished");
  if (statusRank(after.status) < statusRank(before.status)) {
    throw new Error(`moved back from ${before.status} to ${after.status}`);
  }
  if (isFinal(before.status) && after.status !== before.status) {
    throw new Error(`final ${before.status} became ${after.status}`);
  }
  if (before.status === "unknown" && !["unknown", "delivered", "undelivered"].includes(after.status)) {
    throw new Error(`unknown became ${after.status}`);
  }
}

test("under any sequence of provider reports the status never moves backwards", (t) => {
  t.notThrows(() => {
    fc.assert(
      fc.property(steps, (commands) => {
        const recorded = [...submittedHistory];
        let state = stateFrom(notificationDecider, recorded);
        for (const command of commands) {
          const decision = notificationDecider.decide(command, state);
          if (decision.outcome === "refused") {
            if (decision.code !== "unmapped_status" && decision.code !== "already_final") {
              throw new Error(`unexpected refusal ${decision.code}: ${decision.detail}`);
            }
            continue;
          }
          const before = state;
          for (const event of decision.events) state = notificationDecider.evolve(state, event);
          assertForward(before, state);
          if (decision.events.length > 0 && state.status === before.status) {
            throw new Error(`an event was recorded that changed nothing in ${before.status}`);
          }
          recorded.push(...decision.events);
        }
        if (JSON.stringify(stateFrom(notificationDecider, recorded)) !== JSON.stringify(state)) {
          throw new Error("replaying the recorded events gives another state");
        }
      }),
      { numRuns: 2000 },
    );
  });
});

test("replaying a log that holds backward reports (written by older rules) still never moves back", (t) => {
  const reportEvent = fc
    .constantFrom(
      "submitted",
      "sent",
      "unknown",
      "delivered",
      "undelivered",
      "rejected",
      "expired",
      "failed",
      "cancelled",
    )
    .map((status): NotificationEvent => ({
      type: "SmsStatusReported",
      data: {
        status,
        rawStatus: status,
        errorCode: null,
        provider: "twilio",
        via: "poll",
        reportedAt: VALID_UNTIL,
      },
    }));
  t.notThrows(() => {
    fc.assert(
      fc.property(fc.array(reportEvent, { maxLength: 30 }), (events) => {
        let state = stateFrom(notificationDecider, submittedHistory);
        for (const event of events) {
          const next = notificationDecider.evolve(state, event);
          assertForward(state, next);
          state = next;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
