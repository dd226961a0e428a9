import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { notificationDecider, notificationStreamId } from "../../domain/notification/notificationDecider.ts";
import { ruleNotificationId } from "../../domain/notification/ruleNotificationId.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import {
  addMilliseconds,
  compareInstants,
  epochMsToInstant,
  parseInstant,
} from "../../domain/values/Instant.ts";
import { formatMoney, moneyFromData, type Money } from "../../domain/values/Money.ts";
import { parsePhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { EventStore, RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../../gateways/fanout/EventConsumer.ts";
import { handleCommand, loadState } from "../handleCommand.ts";
import { metadataCausedBy } from "../metadataCausedBy.ts";
import type { Templates } from "../templates/loadTemplates.ts";

export interface QualificationPolicyOptions {
  readonly store: EventStore;
  readonly rules: readonly Rule[];
  readonly templates: Templates;
  readonly clock: () => number;
  readonly newEventId: () => string;
  /** How long after the qualification its SMS may still be sent (default 24 hours). */
  readonly validForHours?: number;
  /** Says what it skipped and why (an account gone, a qualification too old to announce). */
  readonly log: (message: string) => void;
}

/** `AccountQualified` (its type shares one member of the union with `AccountDisqualified`). */
type AccountQualified = Extract<AccountEvent, { type: "AccountQualified" | "AccountDisqualified" }>;

const HOUR_MS = 3_600_000;

/**
 * `AccountQualified` → the rule's notification, requested under the deterministic id of
 * (account, rule, episode): a redelivered or duplicated event lands on the notification that
 * already exists (the decider accepts the same request again as a no-op), so one qualification
 * never becomes two SMS. The template's variables are the balance that qualified and the rule's
 * threshold, formatted in the balance's currency. The request is valid until `validForHours`
 * after the qualification; one found already past that (a long outage) is skipped, not sent late.
 */
export function qualificationPolicy(options: QualificationPolicyOptions): EventConsumer {
  const accounts = accountDecider(options.rules);
  const validForMs = (options.validForHours ?? 24) * HOUR_MS;
  return {
    name: "qualification-policy",
    eventTypes: new Set(["AccountQualified"]),
    async handle(recorded: RecordedEvent) {
      const event = { type: recorded.type, data: recorded.data } as unknown as AccountQualified;
      const { ruleId, episode, balance } = event.data;
      const accountId = recorded.streamId.slice("account-".length);
      const rule = options.rules.find(
        (candidate) => candidate.id === ruleId && candidate.threshold.currency === balance.currency,
      );
      if (rule === undefined) {
        throw new Error(
          `AccountQualified ${recorded.id}: no rule ${ruleId} for ${balance.currency} is loaded`,
        );
      }
      const template = options.templates.get(rule.templateId);
      if (template === undefined) throw new Error(`rule ${ruleId}: no template ${rule.templateId} is loaded`);
      const { state: account } = await loadState(options.store, accounts, recorded.streamId);
      if (account.status !== "open") {
        options.log(
          `qualification-policy: account ${accountId} is ${account.status}; no notification for ${ruleId}`,
        );
        return;
      }
      const recipient = parsePhoneNumber(account.phone);
      if (recipient === undefined) throw new Error(`account ${accountId} holds an invalid phone number`);
      const qualifiedAt = parseInstant(event.data.at);
      if (qualifiedAt === undefined)
        throw new Error(`AccountQualified ${recorded.id}: bad time ${event.data.at}`);
      const now = epochMsToInstant(options.clock());
      const validUntil = addMilliseconds(qualifiedAt, validForMs);
      if (compareInstants(validUntil, now) <= 0) {
        options.log(
          `qualification-policy: ${ruleId} episode ${episode} of ${accountId} qualified at ${qualifiedAt}; too old to announce`,
        );
        return;
      }
      const notificationId = ruleNotificationId(accountId, ruleId, episode);
      const outcome = await handleCommand(
        options.store,
        notificationDecider,
        notificationStreamId(notificationId),
        {
          type: "RequestNotification",
          data: {
            notificationId,
            accountId,
            messageClass: rule.messageClass,
            rule: { ruleId, episode },
            templateId: rule.templateId,
            template,
            variables: {
              balance: displayMoney(moneyFromData(balance)),
              threshold: displayMoney(rule.threshold),
            },
            recipient,
            validUntil,
            now,
          },
        },
        {
          retriesOnConflict: 3,
          newEventId: options.newEventId,
          metadata: metadataCausedBy(recorded, "qualification-policy"),
        },
      );
      if (outcome.outcome !== "accepted") {
        throw new Error(
          `notification ${notificationId} for ${ruleId} episode ${episode} of ${accountId}: ${
            outcome.outcome === "refused" ? `${outcome.code}: ${outcome.detail}` : "revision mismatch"
          }`,
        );
      }
    },
  };
}

/** "£12.34", "-€0.05": what a customer reads in an SMS (GSM-7 has £, $ and €). */
function displayMoney(money: Money): string {
  return new Intl.NumberFormat("en-GB", { style: "currency", currency: money.currency }).format(
    formatMoney(money) as unknown as number, // a decimal string is formatted exactly (Intl.NumberFormat v3)
  );
}
