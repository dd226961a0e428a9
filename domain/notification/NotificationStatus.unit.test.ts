import test from "ava";
import { NOTIFICATION_STATUSES, canAdvance, isFinal, statusRank } from "./NotificationStatus.ts";

test("the lifecycle ranks requested, deferred, submitting, submitted, sent, unknown, then the endings", (t) => {
  const path = ["requested", "deferred", "submitting", "submitted", "sent", "unknown", "delivered"] as const;
  for (let index = 1; index < path.length; index += 1) {
    t.true(statusRank(path[index - 1]!) < statusRank(path[index]!), `${path[index - 1]} < ${path[index]}`);
    t.true(canAdvance(path[index - 1]!, path[index]!));
  }
});

test("a status never moves backwards and never stays put as a move", (t) => {
  for (const from of NOTIFICATION_STATUSES) {
    t.false(canAdvance(from, from), from);
    for (const to of NOTIFICATION_STATUSES) {
      if (canAdvance(from, to)) t.true(statusRank(to) > statusRank(from), `${from} → ${to}`);
    }
  }
});

test("final statuses absorb everything", (t) => {
  const finals = NOTIFICATION_STATUSES.filter(isFinal);
  t.deepEqual(finals, [
    "delivered",
    "undelivered",
    "rejected",
    "expired",
    "failed",
    "suppressed",
    "cancelled",
  ]);
  for (const from of finals) {
    for (const to of NOTIFICATION_STATUSES) t.false(canAdvance(from, to), `${from} → ${to}`);
  }
});

test("unknown is not final: it may still become delivered or undelivered, and nothing else", (t) => {
  t.false(isFinal("unknown"));
  const reachable = NOTIFICATION_STATUSES.filter((to) => canAdvance("unknown", to));
  t.deepEqual(reachable, ["delivered", "undelivered"]);
});

test("a notification can end early from any status before the provider has it", (t) => {
  for (const from of ["requested", "deferred", "submitting"] as const) {
    t.true(canAdvance(from, "suppressed"));
    t.true(canAdvance(from, "cancelled"));
  }
  t.true(canAdvance("submitted", "delivered"));
  t.true(canAdvance("sent", "unknown"));
  t.false(canAdvance("sent", "submitted"));
});
