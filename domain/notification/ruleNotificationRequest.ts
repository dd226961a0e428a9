import type { AccountEvent } from "../account/AccountEvent.ts";
import type { AccountState } from "../account/AccountState.ts";
import type { RequestNotification } from "./NotificationCommand.ts";
import { ruleNotificationId } from "./ruleNotificationId.ts";
import { ruleUnder, type RuleBook } from "../ruleset/RuleBook.ts";
import { addMilliseconds, compareInstants, parseInstant, type Instant } from "../values/Instant.ts";
import { formatMoney, moneyFromData, type Money } from "../values/Money.ts";
import { parsePhoneNumber, type PhoneNumber } from "../values/PhoneNumber.ts";
import type { Templates } from "./Templates.ts";

/** The data of an `AccountQualified` event (whose type shares a union member with `AccountDisqualified`). */
export type QualifiedData = Extract<
  AccountEvent,
  { type: "AccountQualified" | "AccountDisqualified" }
>["data"];

/** What the qualification policy does with one qualification: ask for its SMS, or say why not. */
export type RuleNotificationDecision =
  | { readonly outcome: "request"; readonly command: RequestNotification }
  | { readonly outcome: "skip"; readonly reason: string };

export interface RuleNotificationInput {
  readonly accountId: string;
  readonly qualified: QualifiedData;
  /** The account as it stands when the qualification is handled. */
  readonly account: AccountState;
  /** The rules: the qualification is announced with the very version of the rule that made it. */
  readonly rules: RuleBook;
  readonly templates: Templates;
  readonly now: Instant;
  /** How long after the qualification its SMS may still be sent. */
  readonly validForMs: number;
  /**
   * How the account's phone is checked (default `parsePhoneNumber`): a caller that announces many
   * qualifications of the same accounts (a backtest) passes one that remembers its answers.
   */
  readonly parsePhone?: (text: string) => PhoneNumber | undefined;
}

/**
 * The qualification policy's decision, pure: the notification a qualification asks for, under the
 * deterministic id of (account, rule, episode), its template filled with the balance the rule
 * compared and the rule's threshold, formatted in the account's currency. Skipped: an account no
 * longer open, a qualification past its validity (never announced late), and one in another
 * currency than the account's — only logs written before such balances were refused hold one, and
 * its SMS would state an amount in a currency the customer does not hold.
 *
 * Why the id keeps (account, rule, episode) and does not add the currency: episodes are counted
 * per rule and currency, and an account now has rules in its own currency only, so the three
 * already name one episode of one rule of the account. Adding the currency would change the id
 * of every qualification recorded before: one redelivered after the upgrade, within its validity,
 * would find no notification under its new id and a second SMS would go out.
 * @throws Error when the rule or its template is not loaded, or the account's phone or the
 * qualification's time is unreadable: configuration or data to fix, not a customer's case.
 */
export function ruleNotificationRequest(input: RuleNotificationInput): RuleNotificationDecision {
  const { accountId, qualified, account } = input;
  const { ruleId, episode, balance } = qualified;
  if (account.status !== "open") {
    return { outcome: "skip", reason: `account ${accountId} is ${account.status}` };
  }
  if (balance.currency !== account.currency) {
    return {
      outcome: "skip",
      reason: `${ruleId} episode ${episode} qualified in ${balance.currency}; account ${accountId} is in ${account.currency}`,
    };
  }
  const rule = ruleUnder(input.rules, ruleId, qualified.ruleVersion, balance.currency);
  if (rule === undefined) throw new Error(`no rule ${ruleId} for ${balance.currency} is loaded`);
  const template = input.templates.get(rule.templateId);
  if (template === undefined) throw new Error(`rule ${ruleId}: no template ${rule.templateId} is loaded`);
  const recipient = (input.parsePhone ?? parsePhoneNumber)(account.phone);
  if (recipient === undefined) throw new Error(`account ${accountId} holds an invalid phone number`);
  const qualifiedAt = parseInstant(qualified.at);
  if (qualifiedAt === undefined) throw new Error(`${ruleId} episode ${episode}: bad time ${qualified.at}`);
  const validUntil = addMilliseconds(qualifiedAt, input.validForMs);
  if (compareInstants(validUntil, input.now) <= 0) {
    return {
      outcome: "skip",
      reason: `${ruleId} episode ${episode} of ${accountId} qualified at ${qualifiedAt}; too old to announce`,
    };
  }
  const notificationId = ruleNotificationId(accountId, ruleId, episode);
  return {
    outcome: "request",
    command: {
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
        now: input.now,
      },
    },
  };
}

/** "£12.34", "-€0.05": what a customer reads in an SMS (GSM-7 has £, $ and €). */
export function displayMoney(money: Money): string {
  let format = CURRENCY_FORMATS.get(money.currency);
  if (format === undefined) {
    format = new Intl.NumberFormat("en-GB", { style: "currency", currency: money.currency });
    CURRENCY_FORMATS.set(money.currency, format);
  }
  // A decimal string is formatted exactly (Intl.NumberFormat v3).
  return format.format(formatMoney(money) as unknown as number);
}

// Making a NumberFormat costs far more than using one: one per currency, made when first needed.
const CURRENCY_FORMATS = new Map<string, Intl.NumberFormat>();
