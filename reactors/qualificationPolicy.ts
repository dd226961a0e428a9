import { FANOUT_BINDINGS } from "./consumerNames.ts";
import type { AccountEvent } from "../domain/account/AccountEvent.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { perRuleBook, type RulesInForce } from "../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import { handleCommand, loadState } from "../commands/handleCommand.ts";
import { StateCache } from "../commands/StateCache.ts";
import { metadataCausedBy } from "../commands/metadataCausedBy.ts";
import type { Templates } from "../commands/templates/loadTemplates.ts";
import { ruleNotificationRequest } from "../domain/notification/ruleNotificationRequest.ts";
import type { Logger } from "pino";

export interface QualificationPolicyOptions {
  readonly store: EventStore;
  /** The rules in force; a qualification is announced with the version of the rule that made it. */
  readonly rules: RulesInForce;
  readonly templates: Templates;
  readonly clock: () => number;
  readonly newEventId: () => string;
  /** How long after the qualification its SMS may still be sent (default 24 hours). */
  readonly validForHours?: number;
  /** Says what it skipped and why (an account gone, a qualification too old to announce). */
  readonly logger: Logger;
}

/** `AccountQualified` (its type shares one member of the union with `AccountDisqualified`). */
type AccountQualified = Extract<AccountEvent, { type: "AccountQualified" | "AccountDisqualified" }>;

const HOUR_MS = 3_600_000;

/**
 * `AccountQualified` → the rule's notification, as `ruleNotificationRequest` decides it, requested
 * under the deterministic id of (account, rule, episode): a redelivered or duplicated event lands
 * on the notification that already exists (the decider accepts the same request again as a
 * no-op), so one qualification never becomes two SMS. A qualification the decision skips (the
 * account closed, too old to announce, another currency than the account's) is logged.
 */
export function qualificationPolicy(options: QualificationPolicyOptions): EventConsumer {
  const accounts = perRuleBook(options.rules, (inForce) => accountDecider(inForce));
  const validForMs = (options.validForHours ?? 24) * HOUR_MS;
  return {
    ...FANOUT_BINDINGS.qualificationPolicy,
    async handle(recorded: RecordedEvent) {
      const event = { type: recorded.type, data: recorded.data } as unknown as AccountQualified;
      const accountId = recorded.streamId.slice("account-".length);
      const { state: account } = await loadState(options.store, accounts(), recorded.streamId);
      let decision;
      try {
        decision = ruleNotificationRequest({
          accountId,
          qualified: event.data,
          account,
          rules: options.rules.current(),
          templates: options.templates,
          now: epochMsToInstant(options.clock()),
          validForMs,
        });
      } catch (error) {
        throw new Error(`AccountQualified ${recorded.id}: ${(error as Error).message}`, { cause: error });
      }
      if (decision.outcome === "skip") {
        options.logger.info(`qualification-policy: ${decision.reason}; no notification`);
        return;
      }
      const { notificationId } = decision.command.data;
      const streamId = notificationStreamId(notificationId);
      // A new notification's stream does not exist yet: decided on that guess without reading it.
      // A redelivery finds it written (the append expecting no stream fails) and decides again on
      // what stands, which already has the request: nothing more to append.
      const guess = new StateCache<unknown>(1);
      guess.set(streamId, notificationDecider.initialState(), -1);
      const outcome = await handleCommand(options.store, notificationDecider, streamId, decision.command, {
        retriesOnConflict: 3,
        newEventId: options.newEventId,
        metadata: metadataCausedBy(recorded, "qualification-policy"),
        cache: guess,
      });
      if (outcome.outcome !== "accepted") {
        const { ruleId, episode } = event.data;
        throw new Error(
          `notification ${notificationId} for ${ruleId} episode ${episode} of ${accountId}: ${
            outcome.outcome === "refused" ? `${outcome.code}: ${outcome.detail}` : "revision mismatch"
          }`,
        );
      }
    },
  };
}
