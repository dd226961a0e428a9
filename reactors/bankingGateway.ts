import { FANOUT_BINDINGS } from "./consumerNames.ts";
import { metadataCausedBy } from "../commands/metadataCausedBy.ts";
import { handleCommand, type CommandOutcome } from "../commands/handleCommand.ts";
import { StateCache } from "../commands/StateCache.ts";
import type { AccountEvent } from "../domain/account/AccountEvent.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider, type AccountRefusal } from "../domain/account/accountDecider.ts";
import { perRuleBook, type RulesInForce } from "../domain/ruleset/RuleBook.ts";
import { isCurrentBalanceType, parseBalanceType } from "../domain/values/BalanceType.ts";
import { epochMsToInstant, type Instant } from "../domain/values/Instant.ts";
import { isCurrency, type Currency } from "../domain/values/Money.ts";
import type { ReferenceTimeBounds } from "../domain/values/ReferenceTimeBounds.ts";
import type { EventStore, RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import type { BalanceCache } from "../gateways/banking/BalanceCache.ts";
import {
  BankingApiError,
  CallNotAllowedError,
  type BankBalance,
  type BankingApiClient,
  type BankingFailureReason,
} from "../gateways/banking/BankingApiClient.ts";
import type { RefreshBudget } from "../gateways/banking/RefreshBudget.ts";
import { hashedUuid } from "../gateways/eventStore/newEventId.ts";
import type { Logger } from "pino";

export interface BankingGatewayOptions {
  readonly store: EventStore;
  readonly rules: RulesInForce;
  /** How far a read balance's DateTime may lie from now; undefined: the domain's default. */
  readonly referenceTimeBounds?: ReferenceTimeBounds;
  readonly bank: Pick<BankingApiClient, "readBalance">;
  readonly budget: Pick<RefreshBudget, "claim">;
  readonly cache: BalanceCache;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly logger: Logger;
  /** Each refresh recorded as failed, by reason (the metric). */
  readonly onFailure?: (reason: RefreshFailureReason) => void;
}

/**
 * Why a refresh failed: the client's reasons, the daily budget of unattended reads spent, or the
 * account decider's refusal of a balance that cannot count (out of the reference-time bounds, in
 * another currency, not of today's types).
 * `BalanceRefreshFailed.reason` is `<reason>: <detail>`, the detail keeping the bank's Open
 * Banking error codes (e.g. `consent_expired: 403 from the Banking API:
 * UK.OBIE.Resource.InvalidConsentStatus …`).
 */
export type RefreshFailureReason =
  | BankingFailureReason
  | "budget_exhausted"
  | "reference_time_out_of_bounds"
  | "currency_mismatch"
  | "balance_type_not_current";

/**
 * `BalanceRefreshRequested` → the Banking API → `BalanceObserved` (through the account decider,
 * which also qualifies) or `BalanceRefreshFailed` with the reason. A request already answered (an
 * event after it in the stream names it as its cause) is a redelivery and does nothing. Every read from the bank
 * (scheduled, manual or a pre-send recheck: all unattended, the customer is never present)
 * spends the account's daily budget, claimed under the request's event id so a redelivery does
 * not spend it twice; a balance read moments ago comes from the cache instead, spending nothing. A failure
 * the client already retried is recorded (retryable or not) rather than thrown: the scheduler asks
 * again later, and nothing piles up in the dead letters during a bank outage. The client is given
 * the account's currency: only a balance in it counts. Several refreshes run at once (the
 * consumer's concurrency), so a throttled or slow account never holds up the others.
 */
export function bankingGateway(options: BankingGatewayOptions): EventConsumer {
  const accounts = accountDeciderInForce(options);
  return {
    ...FANOUT_BINDINGS.bankingGateway,
    async handle(recorded: RecordedEvent) {
      const accountId = recorded.streamId.slice("account-".length);
      const decider = accounts();
      const account = await readAccount(options.store, decider, recorded);
      if (account.answered) return undefined; // a redelivery
      if (account.currency === undefined) {
        options.logger.info(`banking-gateway: ${accountId}: no such account; nothing to refresh`);
        return undefined;
      }
      const { currency } = account;
      const now = options.clock();
      // The state just read decides the answer; if the stream moved meanwhile (the bank takes its
      // time), the append fails and the answer is decided again on a fresh read.
      const known = new StateCache<unknown>(1);
      known.set(recorded.streamId, account.state, account.revision);
      const record = (command: AccountCommand) =>
        handleCommand(options.store, decider, recorded.streamId, command, {
          retriesOnConflict: 3,
          newEventId: options.newEventId,
          metadata: metadataCausedBy(recorded, "banking-gateway"),
          cache: known,
        });
      const fail = async (reason: RefreshFailureReason, detail: string, retryable: boolean) => {
        const outcome = await record({
          type: "RecordBalanceRefreshFailure",
          data: { reason: `${reason}: ${detail}`, retryable, now: epochMsToInstant(now) },
        });
        if (outcome.outcome === "refused")
          options.logger.warn(`banking-gateway: ${accountId}: ${outcome.detail}`);
        else options.onFailure?.(reason);
      };
      // A balance read moments ago comes from the cache: no call to the bank, no budget spent.
      const cached = await options.cache.get(accountId);
      // Every call to the bank spends the budget, whatever asked for it: the client never says the
      // customer is present (no x-fapi-customer-ip-address), so the bank counts each one as
      // unattended — an operator's manual refresh and a pre-send recheck as much as the scheduler,
      // and a retry or a further page as much as the first call. Each call is claimed under an id
      // of its own made from the request's, so a redelivered request finds its claims.
      const claimCall = async (call: number) => {
        if (!(await options.budget.claim(accountId, now, callClaimId(recorded.id, call)))) {
          throw new CallNotAllowedError(
            call === 0
              ? "the budget of unattended reads in 24 hours is spent"
              : `the budget of unattended reads in 24 hours was spent by this read's ${call} calls before (retries, pages)`,
          );
        }
      };
      let reading: BankBalance;
      try {
        reading = cached ?? (await options.bank.readBalance(accountId, currency, { beforeCall: claimCall }));
      } catch (error) {
        if (error instanceof CallNotAllowedError) return fail("budget_exhausted", error.message, false);
        if (!(error instanceof BankingApiError)) throw error;
        return fail(error.code, error.message, error.retryable);
      }
      await options.cache.set(accountId, reading);
      return recordReading(reading, epochMsToInstant(now), record, fail, (detail) =>
        options.logger.info(`banking-gateway: ${accountId}: ${detail}`),
      );
    },
  };
}

/**
 * The id a request's call `call` is claimed under: the request's own for its first call (as
 * claims were made before calls were counted), then a UUID (version 8) from a SHA-256 of the
 * request's id and the call's number.
 */
export function callClaimId(requestId: string, call: number): string {
  return call === 0 ? requestId : hashedUuid(`tidemark-bank-call:${requestId}:${call}`);
}

/**
 * The bank's answer recorded as the account's balance (the decider qualifies it), or as a failed
 * refresh when it cannot count as the customer's balance; an account closed meanwhile is said.
 */
async function recordReading(
  reading: BankBalance,
  now: Instant,
  record: (command: AccountCommand) => Promise<CommandOutcome<AccountEvent, AccountRefusal>>,
  fail: (reason: RefreshFailureReason, detail: string, retryable: boolean) => Promise<void>,
  say: (detail: string) => void,
): Promise<void> {
  // The client only answers today's types; a cache or a fake might not: checked, not trusted.
  const balanceType = parseBalanceType(reading.balanceType);
  if (balanceType === undefined || !isCurrentBalanceType(balanceType)) {
    return fail("balance_type_not_current", `the bank answered a ${reading.balanceType} balance`, false);
  }
  const outcome = await record({
    type: "RecordBalance",
    data: {
      balance: reading.balance,
      balanceType,
      creditLines: reading.creditLines,
      referenceTime: reading.referenceTime,
      source: "pull",
      bankReference: reading.bankReference,
      now,
    },
  });
  if (outcome.outcome !== "refused") return undefined;
  switch (outcome.code) {
    case "reference_time_out_of_bounds":
    case "currency_mismatch":
    case "balance_type_not_current":
      // The bank's answer cannot count as the customer's balance: a failed refresh, on record.
      return fail(outcome.code, outcome.detail, false);
    case "account_not_found":
    case "account_closed":
    case "account_already_exists":
      // A closed or unknown account has nothing to record: said, not retried.
      say(outcome.detail);
      return undefined;
  }
}

type AccountDecider = ReturnType<typeof accountDecider>;

/**
 * One read of the account's stream for a refresh request: whether an event after the request
 * was caused by it (the answer is recorded: a redelivery), the account's currency from
 * `AccountOpened` (its first event; undefined: no account), and its state as the decider folds it.
 */
async function readAccount(
  store: EventStore,
  decider: AccountDecider,
  request: RecordedEvent,
): Promise<{
  readonly answered: boolean;
  readonly currency: Currency | undefined;
  readonly state: ReturnType<AccountDecider["initialState"]>;
  readonly revision: number;
}> {
  let answered = false;
  let currency: Currency | undefined;
  let state = decider.initialState();
  let revision = -1;
  for await (const recorded of store.readStream(request.streamId)) {
    if (recorded.revision === 0 && recorded.type === "AccountOpened") {
      const opened = recorded.data as { currency?: unknown };
      if (typeof opened.currency === "string" && isCurrency(opened.currency)) currency = opened.currency;
    }
    if (recorded.revision > request.revision && recorded.metadata.causationId === request.id) answered = true;
    // The store holds what the decider emitted: its type/data pairs are the decider's events.
    state = decider.evolve(state, { type: recorded.type, data: recorded.data } as unknown as AccountEvent);
    revision = recorded.revision;
  }
  return { answered, currency, state, revision };
}

/** The account decider of the rules in force (made again when a new rule set comes into force). */
function accountDeciderInForce(options: BankingGatewayOptions): () => AccountDecider {
  return perRuleBook(options.rules, (inForce, book) =>
    accountDecider(inForce, options.referenceTimeBounds, book.version),
  );
}
