import { metadataCausedBy } from "../commands/metadataCausedBy.ts";
import { handleCommand, loadState } from "../commands/handleCommand.ts";
import { accountDecider, ruleKey } from "../domain/account/accountDecider.ts";
import type { NotificationCommand } from "../domain/notification/NotificationCommand.ts";
import { notificationDecider } from "../domain/notification/notificationDecider.ts";
import type { NotificationRequest, NotificationState } from "../domain/notification/NotificationState.ts";
import { quietHoursEnd } from "../domain/rules/quietHours.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import {
  compareInstants,
  epochMsToInstant,
  instantToEpochMs,
  type Instant,
} from "../domain/values/Instant.ts";
import type { TimeZone } from "../domain/values/TimeZone.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import type { DeferredWakeups } from "../gateways/sms/DeferredWakeups.ts";
import {
  ProviderRejectedError,
  ProviderUnavailableError,
  type TwilioSmsProvider,
} from "../gateways/sms/TwilioSmsProvider.ts";

export interface SmsGatewayOptions {
  readonly store: EventStore;
  readonly rules: readonly Rule[];
  /** In order of preference: attempt n goes to provider (n - 1) mod count, so a retry fails over. */
  readonly providers: readonly Pick<TwilioSmsProvider, "name" | "send" | "findByReference">[];
  /** Where providers post status callbacks; `?reference=<notification id>&provider=<name>` is added. */
  readonly statusCallbackUrl: string;
  /**
   * For the frequency cap: how many other notifications of this rule the account was sent since
   * `since` (from the tracking read model). Absent: no cap.
   */
  readonly sentSince?: (accountId: string, ruleId: string, since: Instant, except: string) => Promise<number>;
  /**
   * How old a claim (`SmsSubmissionStarted` with no answer recorded) must be before it is taken
   * for abandoned — its gateway crashed — and looked up at the provider (default 30 s: well past
   * the provider call's timeout). A younger one may belong to a delivery still waiting for the
   * provider (a duplicate, another replica): this delivery is retried later instead.
   */
  readonly claimAbandonedAfterMs?: number;
  /** Where deferrals are remembered, to be woken when they end (see `runDeferredWakeups`). */
  readonly wakeups?: Pick<DeferredWakeups, "schedule">;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly log: (message: string) => void;
}

/** Thrown so the fan-out redelivers the request later: the next attempt goes to the next provider. */
export class SubmissionRetryError extends Error {}

/**
 * `NotificationRequested` → pre-send checks → claim → provider → recorded outcome. The checks,
 * each "no" an event with its reason: no consent for the message's class → suppressed
 * (opted-out); a balance alert whose rule episode is no longer qualified → suppressed
 * (balance-recovered); another SMS of the same rule within its cooldown → suppressed
 * (frequency-cap); inside the rule's quiet hours in the customer's time zone → deferred to
 * their end. Then `SmsSubmissionStarted` (the claim) is written before the provider is called,
 * and the answer recorded. A provider that does not answer in time may still have created the
 * message: it is looked up by our reference before anything is sent again, so a message is never
 * sent twice. A transient failure is recorded as retryable and thrown: the fan-out redelivers the
 * request after its retry delay and the next attempt goes to the next provider. A redelivery
 * finds the stream where the last delivery left it and carries on from there.
 */
export function smsGateway(options: SmsGatewayOptions): EventConsumer {
  if (options.providers.length === 0) throw new Error("the SMS gateway needs at least one provider");
  const accounts = accountDecider(options.rules);
  return {
    name: "sms-gateway",
    eventTypes: new Set(["NotificationRequested"]),
    async handle(recorded: RecordedEvent) {
      const streamId = recorded.streamId;
      const now = () => epochMsToInstant(options.clock());
      const decide = async (command: NotificationCommand) => {
        const outcome = await handleCommand(options.store, notificationDecider, streamId, command, {
          retriesOnConflict: 3,
          newEventId: options.newEventId,
          metadata: metadataCausedBy(recorded, "sms-gateway"),
        });
        if (outcome.outcome === "accepted") return true;
        options.log(
          `sms-gateway: ${streamId}: ${command.type} ${outcome.outcome === "refused" ? `refused: ${outcome.detail}` : outcome.outcome}`,
        );
        return false;
      };
      const { state } = await loadState(options.store, notificationDecider, streamId);
      const notificationId = state.status === "absent" ? "" : state.request.notificationId;
      // Our reference and the provider's name travel in the callback URL: the webhook needs both.
      const callbackFor = (providerName: string) =>
        `${options.statusCallbackUrl}?reference=${encodeURIComponent(notificationId)}&provider=${encodeURIComponent(providerName)}`;

      // Where the last delivery left off.
      let attempt: number;
      const deferralOver = state.status === "deferred" && compareInstants(state.until, now()) <= 0;
      if (state.status === "requested" || deferralOver) {
        const verdict = await preSendCheck(options, accounts, state.request, now());
        if (verdict.kind === "suppress") {
          await decide({
            type: "SuppressNotification",
            data: { notificationId, reason: verdict.reason, now: now() },
          });
          return;
        }
        if (verdict.kind === "defer") {
          if (state.status === "requested") {
            await decide({
              type: "DeferNotification",
              data: { notificationId, until: verdict.until, reason: "quiet-hours", now: now() },
            });
          }
          await options.wakeups?.schedule(notificationId, verdict.until);
          return;
        }
        attempt = 1;
      } else if (state.status === "submitting" && state.attempt.outcome === "in-flight") {
        const claim = state.attempt;
        const claimAgeMs = options.clock() - instantToEpochMs(claim.claimedAt);
        if (claimAgeMs < (options.claimAbandonedAfterMs ?? 30_000)) {
          throw new SubmissionRetryError(
            `notification ${notificationId}: attempt ${claim.attempt} was claimed ${claimAgeMs} ms ago and may still be on its way to ${claim.provider}; looking again later`,
          );
        }
        // Claimed and abandoned (its gateway crashed): the provider may have the message.
        const provider = options.providers.find((candidate) => candidate.name === claim.provider);
        if (provider !== undefined && (await reconcile(provider, claim.attempt))) return;
        // It never got there: that attempt failed, and the next one may go.
        const recorded = await decide({
          type: "RecordSmsSubmissionFailure",
          data: {
            notificationId,
            attempt: claim.attempt,
            provider: claim.provider,
            retryable: true,
            errorCode: "abandoned",
            now: now(),
          },
        });
        if (!recorded) return;
        attempt = claim.attempt + 1;
      } else if (
        state.status === "submitting" &&
        state.attempt.outcome === "failed" &&
        state.attempt.retryable
      ) {
        attempt = state.attempt.attempt + 1;
      } else {
        return; // still deferred (woken later), already submitted, or ended: nothing to do
      }

      const provider = options.providers[(attempt - 1) % options.providers.length];
      if (provider === undefined) return;
      if (
        !(await decide({
          type: "StartSmsSubmission",
          data: { notificationId, attempt, provider: provider.name, now: now() },
        }))
      ) {
        return;
      }
      const request = (state as Extract<NotificationState, { request: NotificationRequest }>).request;
      try {
        const sent = await provider.send({
          to: request.recipient,
          body: request.body,
          statusCallback: callbackFor(provider.name),
        });
        await recordSubmitted(attempt, provider.name, sent.sid, sent.segments);
      } catch (error) {
        if (error instanceof ProviderRejectedError) {
          await decide({
            type: "RecordSmsSubmissionFailure",
            data: {
              notificationId,
              attempt,
              provider: provider.name,
              retryable: false,
              errorCode: error.errorCode,
              now: now(),
            },
          });
          return;
        }
        if (!(error instanceof ProviderUnavailableError)) throw error;
        if (error.mayHaveSent && (await reconcile(provider, attempt))) return;
        await decide({
          type: "RecordSmsSubmissionFailure",
          data: {
            notificationId,
            attempt,
            provider: provider.name,
            retryable: true,
            errorCode: error.errorCode,
            now: now(),
          },
        });
        throw new SubmissionRetryError(
          `notification ${notificationId}: attempt ${attempt} on ${provider.name} failed: ${error.message}`,
        );
      }

      async function recordSubmitted(number: number, providerName: string, sid: string, segments: number) {
        await decide({
          type: "RecordSmsSubmission",
          data: {
            notificationId,
            attempt: number,
            provider: providerName,
            providerMessageId: sid,
            segments,
            now: now(),
          },
        });
      }

      /** Looks the claimed attempt up at its provider; true when found (and recorded as submitted). */
      async function reconcile(at: (typeof options.providers)[number], number: number): Promise<boolean> {
        const found = await at.findByReference(notificationId);
        const message = found[0];
        if (message === undefined) return false;
        if (found.length > 1)
          options.log(`sms-gateway: ${notificationId}: ${found.length} messages at ${at.name}`);
        await recordSubmitted(number, at.name, message.sid, message.segments);
        return true;
      }
    },
  };
}

type Verdict =
  | { readonly kind: "send" }
  | { readonly kind: "suppress"; readonly reason: "opted-out" | "balance-recovered" | "frequency-cap" }
  | { readonly kind: "defer"; readonly until: Instant };

async function preSendCheck(
  options: SmsGatewayOptions,
  accounts: ReturnType<typeof accountDecider>,
  request: NotificationRequest,
  now: Instant,
): Promise<Verdict> {
  const { state: account } = await loadState(options.store, accounts, `account-${request.accountId}`);
  if (account.status !== "open" || !account.consents[request.messageClass])
    return { kind: "suppress", reason: "opted-out" };
  const rule =
    request.rule === undefined
      ? undefined
      : options.rules.find(
          (candidate) =>
            candidate.id === request.rule?.ruleId && candidate.threshold.currency === account.currency,
        );
  if (request.rule !== undefined && rule !== undefined) {
    const standing = account.rules[ruleKey(rule.id, account.currency)];
    if (standing?.status !== "qualified" || standing.episode !== request.rule.episode) {
      return { kind: "suppress", reason: "balance-recovered" };
    }
  }
  if (rule !== undefined && rule.cooldownHours > 0 && options.sentSince !== undefined) {
    const since = epochMsToInstant(instantToEpochMs(now) - rule.cooldownHours * 3_600_000);
    if ((await options.sentSince(request.accountId, rule.id, since, request.notificationId)) > 0) {
      return { kind: "suppress", reason: "frequency-cap" };
    }
  }
  if (rule?.quietHours !== undefined && rule.quietHours !== null) {
    const until = quietHoursEnd(now, account.timeZone as TimeZone, rule.quietHours);
    if (until !== undefined) return { kind: "defer", until };
  }
  return { kind: "send" };
}
