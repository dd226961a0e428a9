import type { Rule } from "../../domain/rules/Rule.ts";
import { formatMoney, isCurrency, type MoneyData } from "../../domain/values/Money.ts";
import { maskPhone } from "../accounts/accountQueries.ts";

/** An event as the timeline stores it. */
export interface TimelineEvent {
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * Data fields that hold personal data: masked (phone numbers) or withheld (message bodies and
 * template variables) for a caller without `pii:read`, in the explanation as in the details.
 */
const PHONE_FIELDS = new Set(["phone", "recipient"]);
// `restated`: the body and variables an attempt sent after its balance moved (SmsSubmissionStarted).
const WITHHELD_FIELDS = new Set(["body", "variables", "restated"]);

/** The event's data as a caller may see it. */
export function visibleData(
  data: Readonly<Record<string, unknown>>,
  showPii: boolean,
): Record<string, unknown> {
  if (showPii) return { ...data };
  return Object.fromEntries(
    Object.entries(data).map(([field, value]) => [
      field,
      PHONE_FIELDS.has(field) && typeof value === "string"
        ? maskPhone(value)
        : WITHHELD_FIELDS.has(field)
          ? null
          : value,
    ]),
  );
}

type Explainer = (
  data: Readonly<Record<string, unknown>>,
  showPii: boolean,
  rules: readonly Rule[],
) => string;

const SUPPRESSIONS: Readonly<Record<string, string>> = {
  "opted-out": "the customer has not consented to this class of message",
  "frequency-cap": "this rule already messaged the customer within its cooldown",
  duplicate: "the same message was already requested",
  "balance-recovered": "the balance had recovered by the time of sending",
  "stale-balance": "the balance could not be confirmed as current before sending",
};

const DEFERRALS: Readonly<Record<string, string>> = {
  "quiet-hours": "it is quiet hours in the customer's time zone",
  "send-rate-limit": "the provider's sending rate was reached",
  "balance-in-band":
    "the balance was back above the alert's threshold, though not far enough to end the alert; it is looked at again then",
};

const REFRESH_REASONS: Readonly<Record<string, string>> = {
  scheduled: "the scheduled refresh",
  manual: "a manual request",
  "pre-send-recheck": "a check just before sending an alert",
};

const EXPLAINERS: Readonly<Record<string, Explainer>> = {
  AccountOpened: (data) =>
    `Account opened in ${text(data["currency"])}, time zone ${text(data["timeZone"])}; ${consentSummary(data["consents"])}.`,
  ContactChanged: (data, showPii) => `Phone number changed to ${phone(data["phone"], showPii)}.`,
  ConsentChanged: (data) =>
    `${capitalised(text(data["messageClass"]))} messages ${data["granted"] === true ? "allowed" : "withdrawn"} ${consentSource(data["source"])}.`,
  SmsKeywordReceived: (data) =>
    `The customer texted ${text(data["keyword"]).toUpperCase()} (through ${text(data["provider"])}, message ${text(data["messageId"])}).`,
  BalanceRefreshRequested: (data) =>
    `Asked the bank for a fresh balance, for ${REFRESH_REASONS[text(data["reason"])] ?? text(data["reason"])}.`,
  BalanceObserved: explainBalance,
  BalanceRefreshFailed: (data) =>
    `Could not read the balance from the bank (${text(data["reason"])}); ${data["retryable"] === true ? "it will be tried again" : "retrying will not help until the customer renews the bank's consent"}.`,
  AccountQualified: (data, _showPii, rules) =>
    `Qualified for rule ${text(data["ruleId"])} (version ${text(data["ruleVersion"])}, episode ${text(data["episode"])}): the balance compared was ${money(data["balance"])}${thresholdOf(data, rules, "qualified")}.`,
  AccountDisqualified: (data, _showPii, rules) =>
    `No longer qualifies for rule ${text(data["ruleId"])} (episode ${text(data["episode"])} ended): the balance compared was ${money(data["balance"])}${thresholdOf(data, rules, "disqualified")}; the rule is armed again.`,
  AccountClosed: (data) =>
    `Account closed${data["reason"] === null || data["reason"] === undefined ? "" : ` (${text(data["reason"])})`}.`,
  NotificationRequested: explainRequest,
  NotificationSuppressed: (data) =>
    `SMS not sent: ${SUPPRESSIONS[text(data["reason"])] ?? text(data["reason"])}.`,
  NotificationDeferred: (data) =>
    `SMS held until ${text(data["until"])} because ${DEFERRALS[text(data["reason"])] ?? text(data["reason"])}.`,
  SmsSubmissionStarted: (data, showPii) => {
    const restated: unknown = data["restated"];
    const balance =
      typeof restated === "object" && restated !== null
        ? (restated as { variables?: Record<string, unknown> }).variables?.["balance"]
        : undefined;
    const restatement =
      typeof restated !== "object" || restated === null
        ? ""
        : showPii && balance !== undefined
          ? `, restated with the balance as it now is (${text(balance)})`
          : ", restated with the balance as it now is";
    return `Attempt ${text(data["attempt"])}: handing the SMS to ${text(data["provider"])}${restatement}.`;
  },
  SmsSubmitted: (data) =>
    `Attempt ${text(data["attempt"])} accepted by ${text(data["provider"])} (message ${text(data["providerMessageId"])}, ${plural(data["segments"], "segment")}).`,
  SmsSubmissionFailed: (data) =>
    `Attempt ${text(data["attempt"])} refused by ${text(data["provider"])} (error ${text(data["errorCode"])}); ${
      data["retryable"] === true
        ? `it will be tried again${data["nextAttemptAt"] === undefined ? "" : ` at ${text(data["nextAttemptAt"])}`}`
        : "no further attempt: the SMS failed"
    }.`,
  SmsStatusReported: (data) =>
    `${text(data["provider"])} reported the SMS ${text(data["status"])} (raw status "${text(data["rawStatus"])}"${
      data["errorCode"] === null || data["errorCode"] === undefined
        ? ""
        : `, error ${text(data["errorCode"])}`
    }, by ${data["via"] === "poll" ? "our polling" : "its webhook"}).`,
  SmsValidityLapsed: (data) =>
    `No final report from the provider before the SMS expired at ${text(data["validUntil"])}: the outcome is unknown.`,
  NotificationCancelled: (data) => `SMS cancelled by ${text(data["by"])} before it was sent.`,
};

/**
 * One line a support agent can read to a customer: what the event means, with personal data
 * masked unless the caller may see it. Events of types it does not know are named, not hidden.
 */
export function explainTimelineEntry(
  event: TimelineEvent,
  showPii: boolean,
  rules: readonly Rule[] = [],
): string {
  const explain = EXPLAINERS[event.type];
  return explain === undefined ? `${event.type}.` : explain(event.data, showPii, rules);
}

/**
 * The threshold the decision was made against, from the rule with the decision's id, version and
 * currency among `rules` (every version published, older ones too); said plainly when the rule
 * set's history does not hold that version (a rules file changed before rule sets were events).
 */
function thresholdOf(
  data: Readonly<Record<string, unknown>>,
  rules: readonly Rule[],
  change: "qualified" | "disqualified",
): string {
  const currency = (data["balance"] as Partial<MoneyData> | null | undefined)?.currency;
  const rule = rules.find(
    (candidate) =>
      candidate.id === data["ruleId"] &&
      candidate.version === data["ruleVersion"] &&
      candidate.threshold.currency === currency,
  );
  if (rule === undefined)
    return rules.length === 0 ? "" : " (that version of the rule is not in the rule set's history)";
  const threshold = `${formatMoney(rule.threshold)} ${rule.threshold.currency}`;
  if (rule.kind === "below") {
    return change === "qualified"
      ? `, below the threshold of ${threshold}`
      : `, above the re-arm level of ${formatMoney(rule.rearmAbove)} ${rule.rearmAbove.currency}`;
  }
  return change === "qualified"
    ? `, at or above ${threshold} for ${rule.days} days`
    : `, below the threshold of ${threshold}`;
}

function explainBalance(data: Readonly<Record<string, unknown>>): string {
  const source = data["source"] === "pull" ? "read from the bank" : "pushed by core banking";
  const credit = data["creditLineIncluded"] === true ? ", credit line included" : "";
  const observed = `Balance ${money(data["balance"])} (${text(data["balanceType"])}${credit}), ${source}, bank time ${text(data["referenceTime"])}`;
  return data["stale"] === true
    ? `${observed}: recorded but not counted, since it is not newer than the balance already counted.`
    : `${observed}.`;
}

function explainRequest(data: Readonly<Record<string, unknown>>, showPii: boolean): string {
  const rule = data["rule"] as { ruleId?: unknown; episode?: unknown } | undefined;
  const cause = rule === undefined ? "" : ` for rule ${text(rule.ruleId)} (episode ${text(rule.episode)})`;
  const body = showPii ? `: "${text(data["body"])}"` : "";
  return `${capitalised(text(data["messageClass"]))} SMS requested${cause}, ${plural(data["segments"], "segment")} to ${phone(data["recipient"], showPii)}${body}.`;
}

function consentSummary(consents: unknown): string {
  if (typeof consents !== "object" || consents === null) return "consents unknown";
  const entries = Object.entries(consents as Record<string, unknown>);
  return entries
    .map(([messageClass, granted]) => `${messageClass} ${granted === true ? "allowed" : "not allowed"}`)
    .join(", ");
}

function consentSource(source: unknown): string {
  if (source === "sms-keyword") return "by the customer's SMS keyword";
  if (source === "import") return "by an import";
  return "through the API";
}

function money(value: unknown): string {
  const data = value as Partial<MoneyData> | null | undefined;
  if (
    typeof data?.minor !== "string" ||
    !/^-?\d{1,30}$/.test(data.minor) ||
    typeof data.currency !== "string" ||
    !isCurrency(data.currency)
  ) {
    return "an unknown amount";
  }
  return `${formatMoney({ minor: BigInt(data.minor), currency: data.currency })} ${data.currency}`;
}

function phone(value: unknown, showPii: boolean): string {
  const number = text(value);
  return showPii ? number : maskPhone(number);
}

function plural(count: unknown, noun: string): string {
  return `${text(count)} ${noun}${count === 1 ? "" : "s"}`;
}

function capitalised(word: string): string {
  return word.length === 0 ? word : `${word[0]?.toUpperCase() ?? ""}${word.slice(1)}`;
}

function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "?";
}
