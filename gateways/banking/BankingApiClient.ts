import {
  CircuitState,
  ConsecutiveBreaker,
  DelegateBackoff,
  ExponentialBackoff,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
  TaskCancelledError,
  timeout,
  wrap,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from "cockatiel";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { chooseCurrentBalance, type ReportedBalance } from "../../domain/account/chooseCurrentBalance.ts";
import { parseBalanceType, type CurrentBalanceType } from "../../domain/values/BalanceType.ts";
import { isCreditLineType, type CreditLine } from "../../domain/values/CreditLine.ts";
import type { Instant } from "../../domain/values/Instant.ts";
import { isCurrency, type Currency, type Money } from "../../domain/values/Money.ts";
import { parseBankAmount } from "../../domain/values/parseBankAmount.ts";
import { parseObDateTime } from "./parseObDateTime.ts";
import { RequestPacer } from "../pacing/RequestPacer.ts";
import { retryAfterMs } from "../pacing/retryAfterMs.ts";

/** The account's balance today as the bank reported it, ready for `RecordBalance`. */
export interface BankBalance {
  readonly balance: Money;
  readonly balanceType: CurrentBalanceType;
  /** Every credit line the bank reported with that balance: type, amount and whether it is included. */
  readonly creditLines: readonly CreditLine[];
  /** The bank's DateTime of the balance, in UTC. */
  readonly referenceTime: Instant;
  /** The bank's interaction id for this read (x-fapi-interaction-id), for support. */
  readonly bankReference: string | null;
}

/**
 * Why a read failed, a closed list (what `BalanceRefreshFailed` records before its detail):
 * - `account_not_found`: 404, the bank knows no such account;
 * - `consent_expired`: 403 `UK.OBIE.Resource.InvalidConsentStatus` (or `UK.OBIE.Reauthenticate`):
 *   the customer's consent expired or was revoked; nothing works until the customer renews it;
 * - `unauthorized`: 401, or another 403: the bank refused our credentials;
 * - `request_refused`: 400 or another 4xx (e.g. `UK.OBIE.Field.Invalid`): the bank refused the request;
 * - `throttled`: 429 whose Retry-After is over the cap or past the refresh's deadline;
 * - `unavailable`: 5xx, time-outs or the network, after every attempt;
 * - `circuit_open`: the Banking API kept failing; not called for now;
 * - `invalid_answer`: an answer outside `OBReadBalance1` (a DateTime without a zone, a
 *   `Links.Next` to another host, more pages than allowed, another account's balance, …);
 * - `no_current_balance`: a valid answer without a balance of today in the account's currency.
 */
export type BankingFailureReason =
  | "account_not_found"
  | "consent_expired"
  | "unauthorized"
  | "request_refused"
  | "throttled"
  | "unavailable"
  | "circuit_open"
  | "invalid_answer"
  | "no_current_balance";

/** Whether asking again later may help, per reason. */
export const RETRYABLE: Readonly<Record<BankingFailureReason, boolean>> = {
  account_not_found: false,
  consent_expired: false,
  unauthorized: false,
  request_refused: false,
  throttled: true,
  unavailable: true,
  circuit_open: true,
  invalid_answer: false,
  no_current_balance: false,
};

/** Why a read failed; the message is the detail, with the bank's Open Banking error codes. */
export class BankingApiError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly code: BankingFailureReason,
    message: string,
    options?: ErrorOptions & { readonly obErrorCodes?: readonly string[] },
  ) {
    super(message, options);
    this.retryable = RETRYABLE[code];
    this.obErrorCodes = options?.obErrorCodes ?? [];
  }

  /** The `ErrorCode`s of the bank's `OBErrorResponse1`, when it sent one. */
  readonly obErrorCodes: readonly string[];
}

/** A transient failure worth another attempt: 5xx, a timeout, the network, or 429 (after Retry-After). */
class TransientBankingError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    readonly throttled = false,
  ) {
    super(message);
  }
}

export interface BankingApiClientOptions {
  readonly baseUrl: string;
  readonly accessToken: string;
  /** Per attempt (default 2 s); an attempt reads every page. */
  readonly timeoutMs?: number;
  /** Attempts per read, the first included (default 3). */
  readonly attempts?: number;
  /** First retry pause before jitter (default 100 ms), doubling up to `maxDelayMs` (default 2 s). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /**
   * The longest Retry-After waited for (default 60 s). A 429 asking for longer is not waited
   * for: the read fails at once as `throttled` (retryable), since asking before the bank's time
   * would only earn another 429.
   */
  readonly retryAfterCapMs?: number;
  /**
   * The whole read's deadline, retries and pauses included (default 90 s): a pause that would
   * pass it fails the read as `throttled` or `unavailable` instead of waiting.
   */
  readonly deadlineMs?: number;
  /** Pages followed through `Links.Next` before the answer is refused (default 20). */
  readonly maxPages?: number;
  /** Consecutive failed reads that open the circuit (default 5), and how long it stays open (10 s). */
  readonly breakAfter?: number;
  readonly halfOpenAfterMs?: number;
  readonly onCircuitChange?: (state: "closed" | "open" | "half-open") => void;
  /** After each attempt (a call to the API): how it went. */
  readonly onAttempt?: (outcome: BankingCallOutcome) => void;
  /**
   * The bank's limit for this process, attempts a second (`RequestPacer`); none when absent. An
   * attempt waits for its slot before its timeout starts; one whose slot would pass the refresh's
   * deadline fails it as `throttled`. The further pages of a paged answer are not paced.
   */
  readonly attemptsPerSecond?: number;
}

/** How one call to the Banking API went. */
export type BankingCallOutcome =
  | "ok"
  | "throttled"
  | "server_error"
  | "timeout"
  | "network_error"
  | "not_found"
  | "unauthorized"
  | "consent_expired"
  | "refused"
  | "invalid_answer";

/** OB error codes meaning the customer must renew their consent before anything works again. */
const CONSENT_CODES: ReadonlySet<string> = new Set([
  "UK.OBIE.Resource.InvalidConsentStatus",
  "UK.OBIE.Reauthenticate",
]);

/**
 * Reads balances from a UK Open Banking Account Information API v3.1
 * (`GET /accounts/{id}/balances`, `OBReadBalance1`, every page through `Links.Next`, on the same
 * host only), and picks the balance that counts with the domain's `chooseCurrentBalance`.
 * Refusals are read as `OBErrorResponse1` and their codes kept. Each attempt has a timeout;
 * transient failures are retried with exponential backoff and full jitter, a 429 after the
 * `Retry-After` it names (capped, within the read's deadline); reads that keep failing open a
 * circuit breaker, which then fails fast (`circuit_open`) until a trial read succeeds. A 4xx or
 * a malformed answer is not retried.
 */
export class BankingApiClient {
  readonly #options: BankingApiClientOptions;
  readonly #breaker;
  readonly #policy;
  readonly #perAttempt;
  readonly #pacer: RequestPacer | undefined;

  constructor(options: BankingApiClientOptions) {
    this.#options = options;
    const exponential = new ExponentialBackoff({
      initialDelay: options.initialDelayMs ?? 100,
      maxDelay: options.maxDelayMs ?? 2000,
    });
    // Exponential with jitter, except after a 429 that names its Retry-After.
    const backoff: IBackoffFactory<IRetryBackoffContext<unknown>> = new DelegateBackoff(
      (context: IRetryBackoffContext<unknown>, state?: IBackoff<unknown>) => {
        const current = state === undefined ? exponential.next() : state.next(undefined);
        const error = "error" in context.result ? context.result.error : undefined;
        const named = error instanceof TransientBankingError ? error.retryAfterMs : undefined;
        return { delay: named ?? current.duration, state: current };
      },
    );
    const transient = handleWhen((error) => error instanceof TransientBankingError);
    const retries = retry(transient, { maxAttempts: (options.attempts ?? 3) - 1, backoff });
    this.#breaker = circuitBreaker(transient, {
      halfOpenAfter: options.halfOpenAfterMs ?? 10_000,
      breaker: new ConsecutiveBreaker(options.breakAfter ?? 5),
    });
    this.#breaker.onStateChange((state) => options.onCircuitChange?.(circuitOf(state)));
    this.#perAttempt = timeout(options.timeoutMs ?? 2000, TimeoutStrategy.Aggressive);
    // The breaker counts whole reads (after their retries); each attempt waits for its slot under
    // the bank's limit, then has its own timeout.
    this.#policy = wrap(this.#breaker, retries);
    this.#pacer =
      options.attemptsPerSecond === undefined ? undefined : new RequestPacer(options.attemptsPerSecond);
  }

  /** The circuit as it stands: open means reads fail fast. */
  get circuit(): "closed" | "open" | "half-open" {
    return circuitOf(this.#breaker.state);
  }

  /**
   * The account's balance today in its currency (see `chooseCurrentBalance`). `beforeCall` is
   * asked before every call to the bank (each attempt, each page), numbered from 0: a
   * `CallNotAllowedError` from it ends the read with that error, without a call (what the budget
   * of unattended reads needs: the bank counts calls, not reads).
   * @throws BankingApiError, CallNotAllowedError
   */
  async readBalance(
    accountId: string,
    currency: Currency,
    options: { readonly beforeCall?: (call: number) => Promise<void> } = {},
  ): Promise<BankBalance> {
    const read: ReadState = {
      deadline: Date.now() + (this.#options.deadlineMs ?? 90_000),
      throttled: false,
      calls: 0,
      ...(options.beforeCall === undefined ? {} : { beforeCall: options.beforeCall }),
    };
    let answer: Answer;
    try {
      answer = await this.#policy.execute(async ({ signal }) => {
        await this.#paced(read, signal);
        // Before the attempt's time-out starts, as its slot: asking is no part of the bank's time.
        await this.#allowCall(read);
        try {
          return await this.#perAttempt.execute(({ signal: attempt }) =>
            this.#measuredAttempt(accountId, read, attempt),
          );
        } catch (error) {
          // An attempt that timed out is a transient failure like a 5xx: retried, and counted by
          // the breaker (a bank that hangs must open the circuit as one that fails does).
          if (error instanceof TaskCancelledError && !signal.aborted) {
            throw new TransientBankingError(
              `no answer within ${this.#options.timeoutMs ?? 2000} ms`,
              undefined,
            );
          }
          throw error;
        }
      });
    } catch (error) {
      if (error instanceof BankingApiError || error instanceof CallNotAllowedError) throw error;
      if (isBrokenCircuitError(error)) {
        throw new BankingApiError("circuit_open", "the Banking API keeps failing; not calling it for now", {
          cause: error,
        });
      }
      if (error instanceof TransientBankingError && error.throttled) {
        throw new BankingApiError("throttled", `Banking API: ${error.message}, every attempt`, {
          cause: error,
        });
      }
      const message = error instanceof Error ? error.message : String(error);
      throw new BankingApiError("unavailable", `Banking API: ${message}`, { cause: error });
    }
    const choice = chooseCurrentBalance(answer.balances, currency);
    if (choice.status === "none") throw new BankingApiError(choice.reason, choice.detail);
    const { balance, type, creditLines, referenceTime } = choice.balance;
    return { balance, balanceType: type, creditLines, referenceTime, bankReference: answer.interactionId };
  }

  /** Asks the read's `beforeCall` for its next call (a `CallNotAllowedError` ends the read). */
  async #allowCall(read: ReadState): Promise<void> {
    await read.beforeCall?.(read.calls);
    read.calls += 1;
  }

  /** Waits for the attempt's slot under the bank's limit; throttled when it would pass the deadline. */
  async #paced(read: ReadState, signal: AbortSignal): Promise<void> {
    if (this.#pacer === undefined) return;
    if (!(await this.#pacer.take(read.deadline - Date.now(), { signal }))) {
      throw new BankingApiError(
        "throttled",
        `${this.#options.attemptsPerSecond} calls a second to the bank: the next free one would pass the refresh's deadline`,
      );
    }
  }

  async #measuredAttempt(accountId: string, read: ReadState, signal: AbortSignal): Promise<Answer> {
    if (this.#options.onAttempt === undefined) return this.#attempt(accountId, read, signal);
    try {
      const answer = await this.#attempt(accountId, read, signal);
      this.#options.onAttempt("ok");
      return answer;
    } catch (error) {
      this.#options.onAttempt(callOutcomeOf(error, signal));
      throw error;
    }
  }

  /** One attempt: every page of the account's balances. */
  async #attempt(accountId: string, read: ReadState, signal: AbortSignal): Promise<Answer> {
    if (Date.now() >= read.deadline) {
      throw new BankingApiError(
        read.throttled ? "throttled" : "unavailable",
        "the refresh's deadline passed between attempts",
      );
    }
    read.throttled = false;
    const first = new URL(
      `${this.#options.baseUrl.replace(/\/+$/, "")}/accounts/${encodeURIComponent(accountId)}/balances`,
    );
    const maxPages = this.#options.maxPages ?? 20;
    const balances: ReportedBalance[] = [];
    const seen = new Set<string>();
    let interactionId: string | null = null;
    let url = first;
    for (let page = 1; ; page += 1) {
      seen.add(url.href);
      // A further page is a call like any other: it waits for its slot under the bank's limit,
      // and is allowed (the first page's call was, before the attempt's time-out began).
      if (page > 1) {
        await this.#paced(read, signal);
        await this.#allowCall(read);
      }
      const response = await this.#get(url, read, signal);
      interactionId ??= response.headers.get("x-fapi-interaction-id");
      const body = await response.json().catch(() => {
        throw new BankingApiError("invalid_answer", `page ${page} is not JSON`);
      });
      const parsed = parsePage(body, accountId, page);
      balances.push(...parsed.balances);
      if (parsed.next === undefined) {
        if (parsed.totalPages !== undefined && parsed.totalPages > page) {
          throw new BankingApiError(
            "invalid_answer",
            `Meta.TotalPages is ${parsed.totalPages} but page ${page} has no Links.Next`,
          );
        }
        return { balances, interactionId };
      }
      const next = URL.canParse(parsed.next, url.href) ? new URL(parsed.next, url) : undefined;
      if (next === undefined || next.origin !== first.origin) {
        throw new BankingApiError(
          "invalid_answer",
          `Links.Next of page ${page} points away from ${first.origin}: refused`,
        );
      }
      if (seen.has(next.href)) {
        throw new BankingApiError("invalid_answer", `Links.Next of page ${page} goes back to a page read`);
      }
      if (page >= maxPages) {
        throw new BankingApiError("invalid_answer", `more than ${maxPages} pages of balances: refused`);
      }
      url = next;
    }
  }

  /** One GET: the answer when 2xx; every refusal as the error it stands for. */
  async #get(url: URL, read: ReadState, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: {
          authorization: `Bearer ${this.#options.accessToken}`,
          accept: "application/json",
          // The spec's correlation id, which the bank plays back: support on both sides can find
          // the call by it. No x-fapi-customer-ip-address: the customer is never present here.
          "x-fapi-interaction-id": randomUUID(),
        },
        // The spec has no redirects; following one would carry the token wherever it points.
        redirect: "manual",
        signal,
      });
    } catch (error) {
      throw new TransientBankingError(error instanceof Error ? error.message : String(error), undefined);
    }
    if (response.ok) return response;
    const refusal = await readObError(response);
    const said = refusal.describe(response.status);
    if (response.status === 429) {
      const waitMs = retryAfterMs(response.headers.get("retry-after"));
      const capMs = this.#options.retryAfterCapMs ?? 60_000;
      if (waitMs !== undefined && waitMs > capMs) {
        throw new BankingApiError(
          "throttled",
          `${said}; Retry-After ${Math.ceil(waitMs / 1000)} s is over the ${Math.ceil(capMs / 1000)} s cap`,
          { obErrorCodes: refusal.codes },
        );
      }
      if (Date.now() + (waitMs ?? 0) >= read.deadline) {
        throw new BankingApiError("throttled", `${said}; waiting would pass the refresh's deadline`, {
          obErrorCodes: refusal.codes,
        });
      }
      read.throttled = true;
      // The bank throttles us, not this account: no call of this client goes before the wait.
      this.#pacer?.holdFor(waitMs ?? 1000);
      throw new TransientBankingError(said, waitMs, true);
    }
    if (response.status >= 500) throw new TransientBankingError(said, undefined);
    const options = { obErrorCodes: refusal.codes };
    if (response.status === 403 && refusal.codes.some((code) => CONSENT_CODES.has(code))) {
      throw new BankingApiError("consent_expired", `${said}: the customer must renew the consent`, options);
    }
    if (response.status === 401 || response.status === 403) {
      throw new BankingApiError("unauthorized", `${said}: the Banking API refused our credentials`, options);
    }
    if (response.status === 404) throw new BankingApiError("account_not_found", said, options);
    if (response.status >= 400) throw new BankingApiError("request_refused", said, options);
    throw new BankingApiError(
      "invalid_answer",
      `unexpected ${response.status} from the Banking API`,
      options,
    );
  }
}

interface ReadState {
  readonly deadline: number;
  /** The last attempt was answered 429: a deadline passed after it is `throttled`. */
  throttled: boolean;
  /** Calls to the bank made (or about to be) for this read. */
  calls: number;
  readonly beforeCall?: (call: number) => Promise<void>;
}

/** A call the read's `beforeCall` did not allow (the budget is spent): the read ends, not retried. */
export class CallNotAllowedError extends Error {}

interface Answer {
  readonly balances: readonly ReportedBalance[];
  readonly interactionId: string | null;
}

function circuitOf(state: CircuitState): "closed" | "open" | "half-open" {
  return state === CircuitState.Open || state === CircuitState.Isolated
    ? "open"
    : state === CircuitState.HalfOpen
      ? "half-open"
      : "closed";
}

function callOutcomeOf(error: unknown, signal: AbortSignal): BankingCallOutcome {
  if (error instanceof BankingApiError) {
    switch (error.code) {
      case "account_not_found":
        return "not_found";
      case "unauthorized":
        return "unauthorized";
      case "consent_expired":
        return "consent_expired";
      case "request_refused":
        return "refused";
      case "throttled":
        return "throttled";
      case "unavailable":
      case "circuit_open":
        return "server_error";
      case "invalid_answer":
      case "no_current_balance":
        return "invalid_answer";
      default:
        return unreachableReason(error.code);
    }
  }
  if (signal.aborted) return "timeout";
  if (error instanceof TransientBankingError) {
    return error.throttled ? "throttled" : /^\d{3}\b/.test(error.message) ? "server_error" : "network_error";
  }
  return "network_error";
}

function unreachableReason(reason: never): never {
  throw new Error(`unknown reason ${String(reason)}`);
}

const obErrorResponse = z.object({
  Code: z.string().optional(),
  Id: z.string().optional(),
  Message: z.string().optional(),
  Errors: z
    .array(
      z.object({
        ErrorCode: z.string(),
        Message: z.string().optional(),
        Path: z.string().optional(),
        Url: z.string().optional(),
      }),
    )
    .optional(),
});

/** A refusal's `OBErrorResponse1`, if the bank sent one: its codes and a one-line description. */
async function readObError(
  response: Response,
): Promise<{ readonly codes: readonly string[]; describe: (status: number) => string }> {
  const text = await response.text().catch(() => "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = obErrorResponse.safeParse(json);
  if (!parsed.success || parsed.data.Errors === undefined) {
    return { codes: [], describe: (status) => `${status} from the Banking API (no OBErrorResponse1)` };
  }
  const errors = parsed.data.Errors;
  const id = parsed.data.Id === undefined ? "" : ` (error id ${parsed.data.Id})`;
  const details = errors
    .map((error) => {
      const at = error.Path === undefined ? "" : ` at ${error.Path}`;
      const message = error.Message === undefined ? "" : `: ${error.Message}`;
      return `${error.ErrorCode}${at}${message}`;
    })
    .join("; ");
  return {
    codes: errors.map((error) => error.ErrorCode),
    describe: (status) => `${status} from the Banking API: ${details}${id}`.slice(0, 500),
  };
}

const amount = z.object({ Amount: z.string(), Currency: z.string().regex(/^[A-Z]{3}$/) });

/** `OBReadBalance1` as far as the client relies on it (further properties are ignored). */
const obReadBalance = z.object({
  Data: z.object({
    Balance: z
      .array(
        z.object({
          AccountId: z.string().min(1).max(40),
          Amount: amount,
          CreditDebitIndicator: z.enum(["Credit", "Debit"]),
          Type: z.string(),
          DateTime: z.string(),
          CreditLine: z
            .array(
              z.object({ Included: z.boolean(), Type: z.string().optional(), Amount: amount.optional() }),
            )
            .optional(),
        }),
      )
      .min(1),
  }),
  Links: z.object({ Self: z.string(), Next: z.string().optional() }).optional(),
  Meta: z.object({ TotalPages: z.number().int().optional() }).optional(),
});

/**
 * One page read into domain values. A balance in a currency Tidemark does not handle is left
 * out (it cannot be any account's currency); anything outside the spec refuses the whole answer.
 */
function parsePage(
  body: unknown,
  accountId: string,
  page: number,
): { balances: ReportedBalance[]; next: string | undefined; totalPages: number | undefined } {
  const parsed = obReadBalance.safeParse(body);
  const invalid = (problem: string) =>
    new BankingApiError("invalid_answer", `page ${page} is not an OBReadBalance1: ${problem}`);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${issue?.path.join(".") ?? ""} ${issue?.message ?? ""}`.trim());
  }
  const balances: ReportedBalance[] = [];
  for (const [index, entry] of parsed.data.Data.Balance.entries()) {
    const where = `Data.Balance.${index}`;
    if (entry.AccountId !== accountId) throw invalid(`${where}.AccountId is another account's`);
    const type = parseBalanceType(entry.Type);
    if (type === undefined) throw invalid(`${where}.Type "${entry.Type}" is not an OBBalanceType1Code`);
    const referenceTime = parseObDateTime(entry.DateTime);
    if (referenceTime === undefined) {
      throw invalid(`${where}.DateTime "${entry.DateTime}" is not an ISO 8601 date-time with a zone`);
    }
    const currency = entry.Amount.Currency;
    if (!isCurrency(currency)) continue;
    const money = parseBankAmount(entry.Amount.Amount, entry.CreditDebitIndicator, currency);
    if ("error" in money) throw invalid(`${where}.Amount: ${money.error}`);
    const creditLines: CreditLine[] = [];
    for (const [lineIndex, line] of (entry.CreditLine ?? []).entries()) {
      const lineWhere = `${where}.CreditLine.${lineIndex}`;
      const lineType = line.Type === undefined ? null : isCreditLineType(line.Type) ? line.Type : undefined;
      if (lineType === undefined) {
        throw invalid(`${lineWhere}.Type "${String(line.Type)}" is not an OBExternalLimitType1Code`);
      }
      let lineAmount: Money | null = null;
      if (line.Amount !== undefined) {
        if (!isCurrency(line.Amount.Currency)) throw invalid(`${lineWhere}.Amount.Currency is not handled`);
        const parsedLine = parseBankAmount(line.Amount.Amount, "Credit", line.Amount.Currency);
        if ("error" in parsedLine) throw invalid(`${lineWhere}.Amount: ${parsedLine.error}`);
        lineAmount = parsedLine;
      }
      creditLines.push({ included: line.Included, type: lineType, amount: lineAmount });
    }
    balances.push({ type, balance: money, creditLines, referenceTime });
  }
  return {
    balances,
    next: parsed.data.Links?.Next,
    totalPages: parsed.data.Meta?.TotalPages,
  };
}
