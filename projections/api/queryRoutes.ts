import { z } from "zod";
import {
  NOTIFICATION_STATUSES,
  type NotificationStatus,
} from "../../domain/notification/NotificationStatus.ts";
import { MESSAGE_CLASSES, type MessageClass } from "../../domain/values/MessageClass.ts";
import { parseInstant } from "../../domain/values/Instant.ts";
import { parsePosition } from "../../gateways/eventStore/Position.ts";
import { parsePhoneNumber } from "../../domain/values/PhoneNumber.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { findAccount, findAccountsByPhone } from "../accounts/accountQueries.ts";
import { listQualifications } from "../qualification/qualificationQueries.ts";
import {
  FUNNEL_COLUMNS,
  funnelReport,
  PROVIDER_COLUMNS,
  providerReport,
} from "../reporting/reportingQueries.ts";
import { describeRuleStates } from "../timeline/describeRuleStates.ts";
import { allTimelineEvents, listTimeline } from "../timeline/timelineQueries.ts";
import { findNotification, listNotifications } from "../tracking/trackingQueries.ts";
import { queryRoute, type QueryRoute } from "./QueryRoute.ts";
import { toCsv } from "./toCsv.ts";

/** Largest page a client may ask for; the default is 50. */
export const MAX_PAGE_SIZE = 500;
/** Longest report range, in days. */
export const MAX_REPORT_DAYS = 366;

const id = z.string().min(1).max(200);
const limit = z
  .string()
  .regex(/^\d{1,4}$/, "must be a whole number")
  .transform(Number)
  .refine((value) => value >= 1 && value <= MAX_PAGE_SIZE, `must be from 1 to ${MAX_PAGE_SIZE}`)
  .default(50);
const after = z
  .string()
  .refine((value) => parsePosition(value) !== undefined, "must be the `next` of a previous page");
const instant = z
  .string()
  .refine((value) => parseInstant(value) !== undefined, "must be an ISO 8601 UTC instant");
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD")
  .refine(
    (value) =>
      !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
      new Date(`${value}T00:00:00Z`).toISOString().startsWith(value),
    "is not a calendar date",
  );

/** Report ranges: both ends inclusive, from ≤ to, at most MAX_REPORT_DAYS days. */
function withinRange(range: { readonly from: string; readonly to: string }, context: z.RefinementCtx): void {
  if (range.from > range.to) {
    context.addIssue({ code: "custom", message: "must not be after `to`", path: ["from"] });
  } else if ((Date.parse(range.to) - Date.parse(range.from)) / 86_400_000 >= MAX_REPORT_DAYS) {
    context.addIssue({ code: "custom", message: `spans more than ${MAX_REPORT_DAYS} days`, path: ["to"] });
  }
}

/** The query API's routes (paths fixed by the product brief). */
export const queryRoutes: readonly QueryRoute[] = [
  queryRoute({
    path: "/accounts/:id",
    summary:
      "An account: contact (masked without pii:read), consents, latest balance, current qualifications",
    projections: ["accounts"],
    params: z.strictObject({ id }),
    async answer({ readModel, readSchema, showPii }, { id: accountId }) {
      const account = await findAccount(readModel(), readSchema, accountId, { showPhone: showPii });
      return account === undefined
        ? { kind: "not_found", detail: `no account ${accountId}` }
        : { kind: "json", body: account };
    },
  }),
  queryRoute({
    path: "/accounts",
    summary: "Accounts with a phone number (E.164); needs pii:read, since the number is personal data",
    projections: ["accounts"],
    params: z.strictObject({
      phone: z
        .string()
        .max(32)
        .refine((text) => parsePhoneNumber(text) !== undefined, "must be a phone number in E.164 form"),
    }),
    async answer({ readModel, readSchema, showPii }, { phone }) {
      if (!showPii) {
        throw new ProblemError("forbidden", "finding accounts by phone number needs the scope pii:read", {
          requiredScope: "pii:read",
        });
      }
      const items = await findAccountsByPhone(readModel(), readSchema, parsePhoneNumber(phone) ?? phone);
      return { kind: "json", body: { items } };
    },
  }),
  queryRoute({
    path: "/accounts/:id/timeline",
    summary:
      "Everything that happened to an account and its notifications, in log order, each with a one-line explanation; keyset pages",
    projections: ["timeline"],
    params: z.strictObject({
      id,
      order: z.enum(["asc", "desc"]).default("asc"),
      after: after.optional(),
      limit,
    }),
    async answer({ readModel, readSchema, showPii, publishedRules }, { id: accountId, ...page }) {
      const timeline = await listTimeline(readModel(), readSchema, accountId, {
        ...withoutUndefined(page),
        showPii,
        rules: publishedRules,
      });
      return timeline.items.length === 0 && page.after === undefined
        ? { kind: "not_found", detail: `no account ${accountId}` }
        : { kind: "json", body: timeline };
    },
  }),
  queryRoute({
    path: "/accounts/:id/rule-states",
    summary:
      "Why (not)? Where each rule in force stands for an account: armed, accruing, fired and waiting to re-arm, or not applicable",
    projections: ["timeline"],
    params: z.strictObject({ id }),
    async answer({ readModel, readSchema, rules, referenceTimeBounds }, { id: accountId }) {
      const events = await allTimelineEvents(readModel(), readSchema, accountId);
      return events.length === 0
        ? { kind: "not_found", detail: `no account ${accountId}` }
        : { kind: "json", body: describeRuleStates(accountId, rules, referenceTimeBounds, events) };
    },
  }),
  queryRoute({
    path: "/qualifications",
    summary: "Qualification episodes, by rule, status and account; keyset pages",
    projections: ["qualification"],
    params: z.strictObject({
      ruleId: id.optional(),
      status: z.enum(["active", "ended"]).optional(),
      accountId: id.optional(),
      after: after.optional(),
      limit,
    }),
    async answer({ readModel, readSchema }, filter) {
      const page = await listQualifications(readModel(), readSchema, withoutUndefined(filter));
      return { kind: "json", body: { items: page.items, next: page.next ?? null } };
    },
  }),
  queryRoute({
    path: "/notifications/:id",
    summary: "A notification with its status, provider, attempts and timeline",
    projections: ["tracking"],
    params: z.strictObject({ id }),
    async answer({ readModel, readSchema, showPii }, { id: notificationId }) {
      const notification = await findNotification(readModel(), readSchema, notificationId, { showPii });
      return notification === undefined
        ? { kind: "not_found", detail: `no notification ${notificationId}` }
        : { kind: "json", body: notification };
    },
  }),
  queryRoute({
    path: "/notifications",
    summary: "Notifications by account, status, rule, provider and request time; keyset pages",
    projections: ["tracking"],
    params: z
      .strictObject({
        accountId: id.optional(),
        status: z
          .enum(NOTIFICATION_STATUSES as readonly [NotificationStatus, ...NotificationStatus[]])
          .optional(),
        ruleId: id.optional(),
        provider: z.string().min(1).max(100).optional(),
        from: instant.optional(),
        to: instant.optional(),
        after: after.optional(),
        limit,
      })
      .refine((query) => query.from === undefined || query.to === undefined || query.from < query.to, {
        message: "must be before `to`",
        path: ["from"],
      }),
    async answer({ readModel, readSchema, showPii }, { from, to, ...filter }) {
      const page = await listNotifications(readModel(), readSchema, {
        ...withoutUndefined(filter),
        ...(from === undefined ? {} : { requestedFrom: from }),
        ...(to === undefined ? {} : { requestedTo: to }),
        showPii,
      });
      return { kind: "json", body: { items: page.items, next: page.next ?? null } };
    },
  }),
  queryRoute({
    path: "/reports/funnel",
    summary:
      "Daily funnel per rule and class: qualified → requested → suppressed → submitted → outcomes, rate, latency",
    projections: ["reporting"],
    offersCsv: true,
    params: z
      .strictObject({
        from: day,
        to: day,
        ruleId: z.string().max(200).optional(),
        messageClass: z.enum(MESSAGE_CLASSES as readonly [MessageClass, ...MessageClass[]]).optional(),
      })
      .superRefine(withinRange),
    async answer({ readModel, readSchema, format }, filter) {
      const rows = await funnelReport(readModel(), readSchema, withoutUndefined(filter));
      return format === "csv"
        ? { kind: "csv", body: toCsv(FUNNEL_COLUMNS, rows), filename: "funnel.csv" }
        : { kind: "json", body: { from: filter.from, to: filter.to, rows } };
    },
  }),
  queryRoute({
    path: "/reports/providers",
    summary: "Daily outcomes, delivery rate and latency per provider",
    projections: ["reporting"],
    offersCsv: true,
    params: z
      .strictObject({ from: day, to: day, provider: z.string().min(1).max(100).optional() })
      .superRefine(withinRange),
    async answer({ readModel, readSchema, format }, filter) {
      const rows = await providerReport(readModel(), readSchema, withoutUndefined(filter));
      return format === "csv"
        ? { kind: "csv", body: toCsv(PROVIDER_COLUMNS, rows), filename: "providers.csv" }
        : { kind: "json", body: { from: filter.from, to: filter.to, rows } };
    },
  }),
];

/** Drops absent optional filters (`exactOptionalPropertyTypes` keeps `undefined` apart from absent). */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
