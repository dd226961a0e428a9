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
  timeout,
  wrap,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from "cockatiel";
import { parseInstant, type Instant } from "../../domain/values/Instant.ts";
import { isCurrency, parseMoney, type Money } from "../../domain/values/Money.ts";

/** A balance as the bank reported it, ready for `RecordBalance`. */
export interface BankBalance {
  readonly balance: Money;
  readonly balanceType: string;
  readonly creditLineIncluded: boolean;
  /** The bank's DateTime of the balance. */
  readonly referenceTime: Instant;
  /** The bank's interaction id for this read (x-fapi-interaction-id), for support. */
  readonly bankReference: string | null;
}

/** Why a read failed; `retryable` tells the caller whether asking again later may help. */
export class BankingApiError extends Error {
  constructor(
    readonly code: "account_not_found" | "unauthorized" | "unavailable" | "circuit_open" | "invalid_answer",
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A transient failure worth another attempt: 5xx, a timeout, the network, or 429 (after Retry-After). */
class TransientBankingError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

export interface BankingApiClientOptions {
  readonly baseUrl: string;
  readonly accessToken: string;
  /** Per attempt (default 2 s). */
  readonly timeoutMs?: number;
  /** Attempts per read, the first included (default 3). */
  readonly attempts?: number;
  /** First retry pause before jitter (default 100 ms), doubling up to `maxDelayMs` (default 2 s). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Consecutive failed reads that open the circuit (default 5), and how long it stays open (10 s). */
  readonly breakAfter?: number;
  readonly halfOpenAfterMs?: number;
  readonly onCircuitChange?: (state: "closed" | "open" | "half-open") => void;
  /** After each attempt (a call to the API): how it went. */
  readonly onAttempt?: (outcome: BankingCallOutcome) => void;
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
  | "invalid_answer";

/**
 * Reads balances from an Open-Banking-style Banking API (`GET /accounts/{id}/balances`,
 * `OBReadBalance1`). Each attempt has a timeout; transient failures are retried with exponential
 * backoff and full jitter, a 429 after the `Retry-After` it names; reads that keep failing open a
 * circuit breaker, which then fails fast (`circuit_open`) until a trial read succeeds. A 404 or a
 * malformed answer is not retried.
 */
export class BankingApiClient {
  readonly #options: BankingApiClientOptions;
  readonly #breaker;
  readonly #policy;

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
    this.#breaker.onStateChange((state) =>
      options.onCircuitChange?.(
        state === CircuitState.Open || state === CircuitState.Isolated
          ? "open"
          : state === CircuitState.HalfOpen
            ? "half-open"
            : "closed",
      ),
    );
    const perAttempt = timeout(options.timeoutMs ?? 2000, TimeoutStrategy.Aggressive);
    // The breaker counts whole reads (after their retries); each attempt has its own timeout.
    this.#policy = wrap(this.#breaker, retries, perAttempt);
  }

  /** The circuit as it stands: open means reads fail fast. */
  get circuit(): "closed" | "open" | "half-open" {
    const state = this.#breaker.state;
    return state === CircuitState.Open || state === CircuitState.Isolated
      ? "open"
      : state === CircuitState.HalfOpen
        ? "half-open"
        : "closed";
  }

  /**
   * The account's current balance (`InterimAvailable` when the bank gives several).
   * @throws BankingApiError
   */
  async readBalance(accountId: string): Promise<BankBalance> {
    try {
      return await this.#policy.execute(({ signal }) => this.#measuredAttempt(accountId, signal));
    } catch (error) {
      if (error instanceof BankingApiError) throw error;
      if (isBrokenCircuitError(error)) {
        throw new BankingApiError(
          "circuit_open",
          "the Banking API keeps failing; not calling it for now",
          true,
          {
            cause: error,
          },
        );
      }
      const message = error instanceof Error ? error.message : String(error);
      throw new BankingApiError("unavailable", `Banking API: ${message}`, true, { cause: error });
    }
  }

  async #measuredAttempt(accountId: string, signal: AbortSignal): Promise<BankBalance> {
    if (this.#options.onAttempt === undefined) return this.#attempt(accountId, signal);
    try {
      const balance = await this.#attempt(accountId, signal);
      this.#options.onAttempt("ok");
      return balance;
    } catch (error) {
      this.#options.onAttempt(callOutcomeOf(error, signal));
      throw error;
    }
  }

  async #attempt(accountId: string, signal: AbortSignal): Promise<BankBalance> {
    let response: Response;
    try {
      response = await fetch(`${this.#options.baseUrl}/accounts/${encodeURIComponent(accountId)}/balances`, {
        headers: { authorization: `Bearer ${this.#options.accessToken}`, accept: "application/json" },
        signal,
      });
    } catch (error) {
      throw new TransientBankingError(error instanceof Error ? error.message : String(error), undefined);
    }
    if (response.status === 429) {
      await response.arrayBuffer();
      throw new TransientBankingError(
        "429 Too Many Requests",
        retryAfterMs(response.headers.get("retry-after")),
      );
    }
    if (response.status >= 500) {
      await response.arrayBuffer();
      throw new TransientBankingError(`${response.status} from the Banking API`, undefined);
    }
    if (response.status === 404) {
      await response.arrayBuffer();
      throw new BankingApiError("account_not_found", `the bank knows no account ${accountId}`, false);
    }
    if (response.status === 401 || response.status === 403) {
      await response.arrayBuffer();
      throw new BankingApiError(
        "unauthorized",
        `the Banking API refused our token (${response.status})`,
        false,
      );
    }
    if (!response.ok) {
      await response.arrayBuffer();
      throw new BankingApiError(
        "invalid_answer",
        `unexpected ${response.status} from the Banking API`,
        false,
      );
    }
    return parseBalance(await response.json(), response.headers.get("x-fapi-interaction-id"));
  }
}

function callOutcomeOf(error: unknown, signal: AbortSignal): BankingCallOutcome {
  if (error instanceof BankingApiError) {
    return error.code === "account_not_found"
      ? "not_found"
      : error.code === "unauthorized"
        ? "unauthorized"
        : "invalid_answer";
  }
  if (signal.aborted) return "timeout";
  if (error instanceof TransientBankingError) {
    return error.message.startsWith("429")
      ? "throttled"
      : /^\d{3} /.test(error.message)
        ? "server_error"
        : "network_error";
  }
  return "network_error";
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

interface ObBalance {
  Amount?: { Amount?: unknown; Currency?: unknown };
  CreditDebitIndicator?: unknown;
  Type?: unknown;
  DateTime?: unknown;
  CreditLine?: { Included?: unknown }[];
}

function parseBalance(document: unknown, interactionId: string | null): BankBalance {
  const balances = (document as { Data?: { Balance?: ObBalance[] } } | null)?.Data?.Balance;
  if (!Array.isArray(balances) || balances.length === 0) {
    throw new BankingApiError("invalid_answer", "the answer holds no Data.Balance", false);
  }
  const chosen = balances.find((balance) => balance.Type === "InterimAvailable") ?? balances[0];
  const amount = chosen?.Amount?.Amount;
  const currency = chosen?.Amount?.Currency;
  const indicator = chosen?.CreditDebitIndicator;
  const dateTime = typeof chosen?.DateTime === "string" ? new Date(chosen.DateTime) : undefined;
  if (
    typeof amount !== "string" ||
    typeof currency !== "string" ||
    !isCurrency(currency) ||
    (indicator !== "Credit" && indicator !== "Debit") ||
    dateTime === undefined ||
    Number.isNaN(dateTime.getTime())
  ) {
    throw new BankingApiError(
      "invalid_answer",
      "a balance needs Amount, Currency, CreditDebitIndicator and DateTime",
      false,
    );
  }
  const money = parseMoney(`${indicator === "Debit" ? "-" : ""}${amount}`, currency);
  const referenceTime = parseInstant(dateTime.toISOString());
  if ("error" in money || referenceTime === undefined) {
    throw new BankingApiError("invalid_answer", `unreadable amount ${amount} ${currency}`, false);
  }
  return {
    balance: money,
    balanceType: typeof chosen?.Type === "string" ? chosen.Type : "InterimAvailable",
    creditLineIncluded: (chosen?.CreditLine ?? []).some((line) => line.Included === true),
    referenceTime,
    bankReference: interactionId,
  };
}
