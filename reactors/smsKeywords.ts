import { handleCommand, loadState } from "../commands/handleCommand.ts";
import type { ConsentKeyword } from "../domain/account/AccountEvent.ts";
import { accountDecider, accountStreamId } from "../domain/account/accountDecider.ts";
import { inboundSmsDecider, inboundSmsStreamId } from "../domain/inboundSms/inboundSmsDecider.ts";
import { perRuleBook, type RulesInForce } from "../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import type { Logger } from "pino";

export interface SmsKeywordsOptions {
  readonly store: EventStore;
  /** The rules (the account decider's). */
  readonly rules: RulesInForce;
  /** The accounts holding a phone number now. */
  readonly findAccountsByPhone: (phone: string) => Promise<readonly string[]>;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly logger: Logger;
}

/** An inbound STOP or START as a provider posted it, its signature already checked. */
export interface InboundSmsKeyword {
  readonly provider: string;
  /** The provider's id of the message: what tells it from its replay. */
  readonly messageId: string;
  readonly keyword: ConsentKeyword;
  readonly from: string;
}

/** Whether the keyword is on record for every account it reaches; if not, the provider should send it again. */
export type SmsKeywordOutcome =
  { readonly outcome: "applied" } | { readonly outcome: "try-again"; readonly detail: string };

/**
 * An inbound STOP (or START) → recorded once per provider message id on a stream of its own,
 * with the accounts then holding the sender's number, → `ApplySmsKeyword` on each of those
 * accounts, whose decider withdraws every class granted, gives back only what STOPs withdrew, and
 * remembers the message: a replayed message reaches the same accounts and changes nothing.
 */
export function smsKeywords(options: SmsKeywordsOptions) {
  const accounts = perRuleBook(options.rules, (inForce) => accountDecider(inForce));
  return {
    async apply(message: InboundSmsKeyword): Promise<SmsKeywordOutcome> {
      const { provider, messageId } = message;
      const now = epochMsToInstant(options.clock());
      const metadata = { correlationId: messageId, actor: `sms-keyword:${provider}` };
      const streamId = inboundSmsStreamId(provider, messageId);
      let received = (await loadState(options.store, inboundSmsDecider, streamId)).state;
      if (received.status === "absent") {
        const accountIds = await options.findAccountsByPhone(message.from);
        await handleCommand(
          options.store,
          inboundSmsDecider,
          streamId,
          {
            type: "ReceiveInboundSms",
            data: { provider, messageId, keyword: message.keyword, accountIds, now },
          },
          // A racing delivery of the same message wins or loses; either way it is recorded once.
          { retriesOnConflict: 1, newEventId: options.newEventId, metadata },
        );
        received = (await loadState(options.store, inboundSmsDecider, streamId)).state;
      }
      if (received.status === "absent") {
        return { outcome: "try-again", detail: `message ${messageId} not recorded; try again` };
      }
      for (const accountId of received.accountIds) {
        const outcome = await handleCommand(
          options.store,
          accounts(),
          accountStreamId(accountId),
          { type: "ApplySmsKeyword", data: { keyword: received.keyword, provider, messageId, now } },
          // Replays racing the first delivery: the loser is decided again on fresh state.
          { retriesOnConflict: 3, newEventId: options.newEventId, metadata },
        );
        if (outcome.outcome === "refused")
          options.logger.warn(`inbound webhook: ${accountId}: ${outcome.detail}`);
        if (outcome.outcome === "revision_mismatch") {
          // Not recorded: answer so the provider delivers the message again.
          return { outcome: "try-again", detail: `account ${accountId} is busy; try again` };
        }
      }
      return { outcome: "applied" };
    },
  };
}
