import { FANOUT_BINDINGS } from "./consumerNames.ts";
import { metadataCausedBy } from "../commands/metadataCausedBy.ts";
import { handleCommand, loadState } from "../commands/handleCommand.ts";
import { StateCache } from "../commands/StateCache.ts";
import type { AccountState } from "../domain/account/AccountState.ts";
import { accountDecider, accountStreamId } from "../domain/account/accountDecider.ts";
import type { NotificationCommand } from "../domain/notification/NotificationCommand.ts";
import { renderedMessage } from "../domain/notification/renderedMessage.ts";
import type { TemplateVariables } from "../domain/notification/renderTemplate.ts";
import { restatement } from "../domain/notification/restatedVariables.ts";
import type { Templates } from "../domain/notification/Templates.ts";
import { notificationDecider } from "../domain/notification/notificationDecider.ts";
import type {
  InFlightAttempt,
  NotificationRequest,
  NotificationState,
} from "../domain/notification/NotificationState.ts";
import {
  cooldownWindow,
  frequencyCapWindow,
  preSendVerdict,
  type PreSendVerdict,
} from "../domain/notification/preSendVerdict.ts";
import { perRuleBook, type RulesInForce } from "../domain/ruleset/RuleBook.ts";
import {
  compareInstants,
  epochMsToInstant,
  instantToEpochMs,
  type Instant,
} from "../domain/values/Instant.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import type { DeferredWakeups } from "../gateways/sms/DeferredWakeups.ts";
import {
  ProviderRejectedError,
  ProviderUnavailableError,
  type TwilioSmsProvider,
} from "../gateways/sms/TwilioSmsProvider.ts";
import type { Logger } from "pino";

export interface SmsGatewayOptions {
  readonly store: EventStore;
  readonly rules: RulesInForce;
  /** In order of preference: attempt n goes to provider (n - 1) mod count, so a retry fails over. */
  readonly providers: readonly Pick<TwilioSmsProvider, "name" | "turn" | "send" | "findSent">[];
  /** Where providers post status callbacks; `?reference=<notification id>&provider=<name>` is added. */
  readonly statusCallbackUrl: string;
  /** The SMS templates: a message whose balance moved since its request is rendered again. */
  readonly templates: Templates;
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
  readonly logger: Logger;
}

/** Thrown so the fan-out redelivers the request later: the next attempt goes to the next provider. */
export class SubmissionRetryError extends Error {}

type SmsProvider = SmsGatewayOptions["providers"][number];
type AccountDecider = ReturnType<typeof accountDecider>;
type RequestedState = Extract<NotificationState, { request: NotificationRequest }>;

/**
 * `NotificationRequested` → pre-send checks → the provider's turn → claim → provider → recorded
 * outcome. The checks are the domain's `preSendVerdict`, asked with the facts gathered here (the
 * account as it stands, the rule's recent sends, now): each "no" an event with its reason
 * (suppressed: opted-out, balance-recovered, frequency-cap; or deferred to the end of quiet hours).
 * Then the request waits for its provider's turn under the provider's messages a second (service
 * alerts before marketing offers), and is checked again, since the wait may be long. Only then is
 * `SmsSubmissionStarted` (the claim) written and the provider called, and the answer recorded:
 * a claim never ages while it waits, so no other delivery takes it for abandoned while its
 * message is still to be sent. A provider that does not answer in time may still have created the
 * message: it is looked up (the recipient's messages, this body, since the claim) before anything
 * is sent again, once at once and, not found, again when the claim is old enough to be abandoned,
 * so a message is not sent twice. A transient failure is recorded as retryable and thrown: the fan-out redelivers the
 * request after its retry delay and the next attempt goes to the next provider. A redelivery finds
 * the stream where the last delivery left it and carries on from there.
 */
export function smsGateway(options: SmsGatewayOptions): EventConsumer {
  if (options.providers.length === 0) throw new Error("the SMS gateway needs at least one provider");
  const accounts = perRuleBook(options.rules, (inForce) => accountDecider(inForce));
  return {
    ...FANOUT_BINDINGS.smsGateway,
    // On RabbitMQ, waiting service alerts are delivered before waiting marketing offers, however
    // many of those were published first (the priority is the domain's `deliveryPriority`).
    async handle(recorded: RecordedEvent) {
      const due = await dueAttempt(options, accounts(), recorded);
      if (due === undefined) return;
      const paced = await due.provider.turn(due.request.messageClass);
      // A paced message may have waited long: what was due then is looked at again.
      const stillDue = paced ? await dueAttempt(options, accounts(), recorded) : due;
      if (stillDue === undefined) return;
      if (stillDue.provider !== due.provider) {
        throw new SubmissionRetryError(
          `notification ${stillDue.delivery.notificationId}: attempt ${stillDue.attempt} is now ${stillDue.provider.name}'s, not ${due.provider.name}'s whose turn it waited for; looking again later`,
        );
      }
      await submit(stillDue);
    },
  };
}

/** An attempt to make now: the request, its number and its provider, and the account as it stands. */
interface DueAttempt {
  readonly delivery: Delivery;
  readonly request: NotificationRequest;
  readonly attempt: number;
  readonly provider: SmsProvider;
  readonly account: Promise<{ readonly state: AccountState }>;
}

/** The notification as it stands and the attempt to make now; undefined when there is none. */
async function dueAttempt(
  options: SmsGatewayOptions,
  accounts: AccountDecider,
  recorded: RecordedEvent,
): Promise<DueAttempt | undefined> {
  // The request names its account and rule: the facts its checks need are asked for beside the
  // notification's read, not after it (the store batches reads asked for together).
  const beside = factsBeside(options, accounts, recorded);
  const { state, revision } = await loadState(options.store, notificationDecider, recorded.streamId);
  const delivery = deliveryOf(options, recorded, state, revision);
  const next = await nextAttempt(delivery, accounts, state, beside);
  if (next === undefined) return undefined;
  const { attempt } = next;
  const provider = options.providers[(attempt - 1) % options.providers.length];
  if (provider === undefined) return undefined;
  const request = (state as RequestedState).request;
  // The account the checks just read, or (a retry is not checked again) read now: what the
  // message says of the balance is held against it before the claim.
  const account = next.account ?? loadState(options.store, accounts, accountStreamId(request.accountId));
  // Taken only if this attempt is submitted (a paced one is looked at again first): a failure
  // nobody awaits must not end the process as an unhandled rejection.
  account.catch(() => undefined);
  return { delivery, request, attempt, provider, account };
}

/**
 * What the pre-send verdict is asked on, gathered as of `now` (taken before the reads are asked
 * for): the account as it stands, and how many SMS of a rule it was sent since a time (taken only
 * for the window the verdict needs).
 */
interface GatheredFacts {
  readonly now: Instant;
  readonly account: Promise<{ readonly state: AccountState }>;
  readonly sent?: { readonly ruleId: string; readonly since: Instant; readonly count: Promise<number> };
}

/** Facts asked for before the notification was read, and the request they were asked for. */
interface FactsBeside extends GatheredFacts {
  readonly accountId: string;
  readonly notificationId: string;
}

/**
 * For a `NotificationRequested`, starts asking for the facts its checks may need: the account it
 * names, and the sends within the cooldown of the first rule in force with the id it names (a
 * guess: the verdict takes that count only if the account's own window, which also looks at the
 * account's currency and whether it is open, is the same; else it counts that window). Undefined
 * for anything else. A fact nobody takes (the request was already handled) is dropped, its
 * failure with it: only a fact the checks take can fail them.
 */
function factsBeside(
  options: SmsGatewayOptions,
  accounts: AccountDecider,
  recorded: RecordedEvent,
): FactsBeside | undefined {
  if (recorded.type !== "NotificationRequested") return undefined;
  const { accountId, notificationId, rule } = recorded.data;
  if (typeof accountId !== "string" || typeof notificationId !== "string") return undefined;
  const now = epochMsToInstant(options.clock());
  const account = loadState(options.store, accounts, accountStreamId(accountId));
  account.catch(() => undefined);
  const ruleId = typeof rule === "object" && rule !== null && "ruleId" in rule ? rule.ruleId : undefined;
  const named = options.rules.current().inForce.find((candidate) => candidate.id === ruleId);
  const window = named === undefined ? undefined : cooldownWindow(named, now);
  if (window === undefined || options.sentSince === undefined)
    return { accountId, notificationId, now, account };
  const count = options.sentSince(accountId, window.ruleId, window.since, notificationId);
  count.catch(() => undefined);
  return { accountId, notificationId, now, account, sent: { ...window, count } };
}

/** One handling of one notification's request: what every step below needs. */
interface Delivery {
  readonly options: SmsGatewayOptions;
  readonly notificationId: string;
  readonly now: () => Instant;
  /** Runs a command on the notification's stream; true when accepted (anything else is logged). */
  readonly decide: (command: NotificationCommand) => Promise<boolean>;
}

function deliveryOf(
  options: SmsGatewayOptions,
  recorded: RecordedEvent,
  state: NotificationState,
  revision: number,
): Delivery {
  const streamId = recorded.streamId;
  // The state just read decides the claim and the answer after it, each append moving it on; a
  // stream moved meanwhile (another delivery of the same request) fails the append, and the
  // command is decided again on a fresh read.
  const known = new StateCache<unknown>(1);
  known.set(streamId, state, revision);
  return {
    options,
    notificationId: state.status === "absent" ? "" : state.request.notificationId,
    now: () => epochMsToInstant(options.clock()),
    async decide(command) {
      const outcome = await handleCommand(options.store, notificationDecider, streamId, command, {
        retriesOnConflict: 3,
        newEventId: options.newEventId,
        metadata: metadataCausedBy(recorded, "sms-gateway"),
        cache: known,
      });
      if (outcome.outcome === "accepted") return true;
      options.logger.warn(
        `sms-gateway: ${streamId}: ${command.type} ${outcome.outcome === "refused" ? `refused: ${outcome.detail}` : outcome.outcome}`,
      );
      return false;
    },
  };
}

/**
 * Where the last delivery left off: the attempt to make now, or undefined when there is nothing
 * to send (suppressed or deferred now, still deferred, already submitted, or ended).
 */
async function nextAttempt(
  delivery: Delivery,
  accounts: AccountDecider,
  state: NotificationState,
  beside: FactsBeside | undefined,
): Promise<{ readonly attempt: number; readonly account?: GatheredFacts["account"] } | undefined> {
  const deferralOver = (deferred: { readonly until: Instant }) =>
    compareInstants(deferred.until, delivery.now()) <= 0;
  if (state.status === "requested" || (state.status === "deferred" && deferralOver(state))) {
    // The facts asked for beside the notification's read, if they are this request's (they
    // always are: a notification's stream begins with its request) and it is still to be
    // checked for the first time; a deferral that is over is checked on facts gathered now.
    const facts: GatheredFacts =
      state.status === "requested" &&
      beside?.accountId === state.request.accountId &&
      beside.notificationId === state.request.notificationId
        ? beside
        : {
            now: delivery.now(),
            account: loadState(delivery.options.store, accounts, accountStreamId(state.request.accountId)),
          };
    return (await checkBeforeSending(delivery, facts, state))
      ? { attempt: 1, account: facts.account }
      : undefined;
  }
  if (state.status === "submitting" && state.attempt.outcome === "in-flight") {
    const attempt = await resumeClaim(delivery, state.request, state.attempt);
    return attempt === undefined ? undefined : { attempt };
  }
  if (state.status === "submitting" && state.attempt.outcome === "failed" && state.attempt.retryable) {
    return { attempt: state.attempt.attempt + 1 };
  }
  return undefined; // still deferred (woken later), already submitted, or ended: nothing to do
}

/** Asks the domain whether the request may go now; records a "no" (suppressed or deferred). */
async function checkBeforeSending(
  delivery: Delivery,
  facts: GatheredFacts,
  state: Extract<NotificationState, { status: "requested" | "deferred" }>,
): Promise<boolean> {
  const { notificationId } = delivery;
  const verdict = await preSendCheck(delivery.options, facts, state.request);
  if (verdict.kind === "suppress") {
    await delivery.decide({
      type: "SuppressNotification",
      data: { notificationId, reason: verdict.reason, now: delivery.now() },
    });
    return false;
  }
  if (verdict.kind === "defer") {
    if (state.status === "requested") {
      await delivery.decide({
        type: "DeferNotification",
        data: { notificationId, until: verdict.until, reason: "quiet-hours", now: delivery.now() },
      });
    }
    await delivery.options.wakeups?.schedule(notificationId, verdict.until);
    return false;
  }
  return true;
}

/**
 * The facts the pre-send verdict needs — the account as it stands, how many SMS of the request's
 * rule it was sent within the rule's cooldown, now — and the domain's verdict on them. A count
 * already asked for is taken only if it is for the very window the account has.
 */
async function preSendCheck(
  options: SmsGatewayOptions,
  facts: GatheredFacts,
  request: NotificationRequest,
): Promise<PreSendVerdict> {
  const { now } = facts;
  const { state: account } = await facts.account;
  const rules = options.rules.current().inForce;
  const window = frequencyCapWindow(request, account, rules, now);
  const asked = facts.sent;
  const recentSends =
    window === undefined || options.sentSince === undefined
      ? 0
      : asked !== undefined && asked.ruleId === window.ruleId && asked.since === window.since
        ? await asked.count
        : await options.sentSince(request.accountId, window.ruleId, window.since, request.notificationId);
  return preSendVerdict({ request, account, rules, recentSends, now });
}

/**
 * An attempt claimed and not answered: a young claim may still be on its way (retried later); an
 * abandoned one (its gateway crashed) is looked up at its provider, and if it never got there it
 * is recorded as failed and the next attempt may go.
 */
async function resumeClaim(
  delivery: Delivery,
  request: NotificationRequest,
  claim: InFlightAttempt,
): Promise<number | undefined> {
  const { options, notificationId } = delivery;
  const claimAgeMs = options.clock() - instantToEpochMs(claim.claimedAt);
  if (claimAgeMs < (options.claimAbandonedAfterMs ?? 30_000)) {
    throw new SubmissionRetryError(
      `notification ${notificationId}: attempt ${claim.attempt} was claimed ${claimAgeMs} ms ago and may still be on its way to ${claim.provider}; looking again later`,
    );
  }
  // Claimed and abandoned (its gateway crashed): the provider may have the message.
  const provider = options.providers.find((candidate) => candidate.name === claim.provider);
  if (
    provider !== undefined &&
    (await reconcile(delivery, provider, { request, attempt: claim.attempt, claimedAt: claim.claimedAt }))
  )
    return undefined;
  // It never got there: that attempt failed, and the next one may go.
  const recorded = await recordFailure(delivery, claim.attempt, claim.provider, true, "abandoned");
  return recorded ? claim.attempt + 1 : undefined;
}

/**
 * Claims the attempt, hands the SMS to the attempt's provider and records its answer. The balance
 * the message states is first held against the account's (`restatement`): moved, the message is
 * rendered again and the claim records what this attempt sends; no longer true of the balance
 * (back in the rule's band, its episode not over), a first attempt is deferred and looked at
 * again in 15 minutes (`balance-in-band`; a dip again in the episode brings no new alert) until
 * its validity ends, and a retry, or one past its validity, is suppressed (balance-recovered);
 * not to be rendered again (its template is gone), suppressed as stale-balance rather than sent
 * with a balance that is not the customer's.
 */
async function submit(due: DueAttempt): Promise<void> {
  const { delivery, attempt, provider } = due;
  const { options, notificationId } = delivery;
  const claimedAt = delivery.now();
  const { state: account } = await due.account;
  const stated = restatement(due.request, account, options.rules.current().inForce);
  let request = due.request;
  let restate: { readonly template: string; readonly variables: TemplateVariables } | undefined;
  if (stated.kind === "no-longer-true" && attempt === 1) {
    // Not sent as it stands, and not dropped: a dip again within the episode brings no new alert.
    const until = epochMsToInstant(
      Math.min(instantToEpochMs(claimedAt) + BALANCE_RECHECK_MS, instantToEpochMs(request.validUntil)),
    );
    if (compareInstants(until, claimedAt) > 0) {
      const deferred = await delivery.decide({
        type: "DeferNotification",
        data: { notificationId, until, reason: "balance-in-band", now: claimedAt },
      });
      if (deferred) await options.wakeups?.schedule(notificationId, until);
      return;
    }
  }
  if (stated.kind !== "as-requested") {
    const template = options.templates.get(request.templateId);
    const rendered =
      stated.kind === "restate" && template !== undefined
        ? {
            template,
            variables: stated.variables,
            message: renderedMessage(request.templateId, template, stated.variables),
          }
        : undefined;
    if (rendered === undefined || "problem" in rendered.message) {
      await delivery.decide({
        type: "SuppressNotification",
        data: {
          notificationId,
          reason: stated.kind === "no-longer-true" ? "balance-recovered" : "stale-balance",
          now: claimedAt,
        },
      });
      return;
    }
    restate = { template: rendered.template, variables: rendered.variables };
    request = { ...request, variables: rendered.variables, ...rendered.message };
  }
  const claimed = await delivery.decide({
    type: "StartSmsSubmission",
    data: {
      notificationId,
      attempt,
      provider: provider.name,
      now: claimedAt,
      ...(restate === undefined ? {} : { restate }),
    },
  });
  if (!claimed) return;
  try {
    const sent = await provider.send({
      to: request.recipient,
      body: request.body,
      statusCallback: callbackUrl(options, notificationId, provider.name),
    });
    await recordSubmitted(delivery, attempt, provider.name, sent.sid, sent.segments);
  } catch (error) {
    if (error instanceof ProviderRejectedError) {
      await recordFailure(delivery, attempt, provider.name, false, error.errorCode);
      return;
    }
    if (!(error instanceof ProviderUnavailableError)) throw error;
    if (error.mayHaveSent) {
      if (await reconcile(delivery, provider, { request, attempt, claimedAt })) return;
      // Not there yet is not "never there": the provider may still be creating it, or list it a
      // moment late. The claim stays in flight; once it is old enough to be abandoned, a
      // redelivery looks again (`resumeClaim`) and only then lets the next attempt go.
      throw new SubmissionRetryError(
        `notification ${notificationId}: attempt ${attempt} on ${provider.name} may have reached it (${error.message}); not found yet, looking again later`,
      );
    }
    await recordFailure(delivery, attempt, provider.name, true, error.errorCode);
    throw new SubmissionRetryError(
      `notification ${notificationId}: attempt ${attempt} on ${provider.name} failed: ${error.message}`,
    );
  }
}

/** How long a balance alert whose balance is back in its rule's band waits before it is looked at again. */
const BALANCE_RECHECK_MS = 15 * 60_000;

/** Our reference and the provider's name travel in the callback URL: the webhook needs both. */
function callbackUrl(options: SmsGatewayOptions, notificationId: string, providerName: string): string {
  return `${options.statusCallbackUrl}?reference=${encodeURIComponent(notificationId)}&provider=${encodeURIComponent(providerName)}`;
}

async function recordSubmitted(
  delivery: Delivery,
  attempt: number,
  providerName: string,
  sid: string,
  segments: number,
): Promise<void> {
  await delivery.decide({
    type: "RecordSmsSubmission",
    data: {
      notificationId: delivery.notificationId,
      attempt,
      provider: providerName,
      providerMessageId: sid,
      segments,
      now: delivery.now(),
    },
  });
}

function recordFailure(
  delivery: Delivery,
  attempt: number,
  providerName: string,
  retryable: boolean,
  errorCode: string,
): Promise<boolean> {
  return delivery.decide({
    type: "RecordSmsSubmissionFailure",
    data: {
      notificationId: delivery.notificationId,
      attempt,
      provider: providerName,
      retryable,
      errorCode,
      now: delivery.now(),
    },
  });
}

/**
 * Looks the claimed attempt up at its provider: a message to the request's recipient with its
 * very body, created since the claim. True when found (and recorded as submitted, with the status
 * the provider gives it now). Its delivery reports may have come while nobody knew it was
 * submitted, and were refused then: providers do not send them again.
 */
async function reconcile(
  delivery: Delivery,
  at: SmsProvider,
  claim: { readonly request: NotificationRequest; readonly attempt: number; readonly claimedAt: Instant },
): Promise<boolean> {
  const { request, attempt } = claim;
  const found = await at.findSent({
    to: request.recipient,
    body: request.body,
    since: instantToEpochMs(claim.claimedAt),
  });
  const message = found[0];
  if (message === undefined) return false;
  if (found.length > 1)
    delivery.options.logger.info(
      `sms-gateway: ${delivery.notificationId}: ${found.length} messages at ${at.name}`,
    );
  await recordSubmitted(delivery, attempt, at.name, message.sid, message.segments);
  // Forward only: a status no further than submitted changes nothing.
  await delivery.decide({
    type: "ReportSmsStatus",
    data: {
      notificationId: delivery.notificationId,
      provider: at.name,
      dialect: "twilio",
      rawStatus: message.status,
      errorCode: message.errorCode,
      via: "poll",
      reportedAt: delivery.now(),
    },
  });
  return true;
}
