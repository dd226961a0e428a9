import type { NotificationStatus } from "./NotificationStatus.ts";

/** The vocabulary a provider reports delivery in: Twilio's REST statuses or SMPP receipt states. */
export type StatusDialect = "twilio" | "smpp";

export const STATUS_DIALECTS: readonly StatusDialect[] = ["twilio", "smpp"];

/** The statuses a provider report can put a notification in (the rest are ours to decide). */
export type ReportedStatus = Extract<
  NotificationStatus,
  | "submitted"
  | "sent"
  | "unknown"
  | "delivered"
  | "undelivered"
  | "rejected"
  | "expired"
  | "failed"
  | "cancelled"
>;

/**
 * Raw provider status → normalised status, per dialect. Keys are compared case-insensitively.
 * Judgement calls, so support can read why:
 * - Twilio `queued` / `accepted` / `scheduled` / `sending` are all still with Twilio: `submitted`;
 *   `sent` means a carrier took it. `read` implies delivered. `canceled` (a scheduled message
 *   withdrawn) ends it as `cancelled`. `partially_delivered` (some segments only) is `undelivered`.
 * - SMPP `ENROUTE` is with the network: `sent`. `ACCEPTD` is final in SMPP 3.4 but many SMSCs send
 *   it for "accepted by the SMSC", so it maps to `sent`, which a later `DELIVRD` can still follow.
 *   `DELETED` (withdrawn from the SMSC) is `cancelled`; `UNKNOWN` is `unknown`.
 */
export const providerStatusMapping: Readonly<
  Record<StatusDialect, Readonly<Record<string, ReportedStatus>>>
> = {
  twilio: {
    queued: "submitted",
    accepted: "submitted",
    scheduled: "submitted",
    sending: "submitted",
    sent: "sent",
    delivered: "delivered",
    read: "delivered",
    undelivered: "undelivered",
    // Some of a long message's segments arrived, not all: the customer did not get the whole
    // message (its balance may be in the part that is missing), so it counts as not delivered.
    partially_delivered: "undelivered",
    failed: "failed",
    canceled: "cancelled",
  },
  smpp: {
    enroute: "sent",
    delivrd: "delivered",
    expired: "expired",
    deleted: "cancelled",
    undeliv: "undelivered",
    acceptd: "sent",
    unknown: "unknown",
    rejectd: "rejected",
  },
};

/**
 * A provider report read against {@link providerStatusMapping}. The raw status and error code are
 * kept beside the normalised status; a raw value we do not know is a result to log and look at,
 * never a throw and never a guess.
 */
export type StatusMapping =
  | {
      readonly outcome: "mapped";
      readonly status: ReportedStatus;
      readonly rawStatus: string;
      readonly errorCode: string | null;
    }
  | {
      readonly outcome: "unmapped";
      readonly dialect: StatusDialect;
      readonly rawStatus: string;
      readonly errorCode: string | null;
    };

/** Normalises one provider report. Surrounding whitespace and letter case are ignored. */
export function mapProviderStatus(
  dialect: StatusDialect,
  rawStatus: string,
  errorCode: string | null,
): StatusMapping {
  const table = providerStatusMapping[dialect];
  const key = rawStatus.trim().toLowerCase();
  // Own keys only: "constructor" or "__proto__" from a webhook must not find Object.prototype.
  const status = Object.hasOwn(table, key) ? table[key] : undefined;
  return status === undefined
    ? { outcome: "unmapped", dialect, rawStatus, errorCode }
    : { outcome: "mapped", status, rawStatus, errorCode };
}
