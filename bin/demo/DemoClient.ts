import {
  DelegateBackoff,
  ExponentialBackoff,
  handleWhen,
  retry,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from "cockatiel";
import type { FinalStatus } from "../../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { twilioSignature } from "../../gateways/sms/twilioSignature.ts";
import {
  SIMULATOR_ACCOUNT_SID,
  SIMULATOR_AUTH_TOKEN,
  SIMULATOR_BANK_TOKEN,
} from "../roles/simulatorDefaults.ts";

/** Where the demo finds the running system. */
export interface DemoEndpoints {
  readonly commandApi: string;
  readonly queryApi: string;
  /** The SMS webhooks (`tracking` role): STOP is texted there, signed as the built-in simulator signs. */
  readonly smsWebhooks: string;
  /** The built-in SMS provider simulator: its admin route pins a number's final status. */
  readonly smsSimulator: string;
  /** The built-in Banking API simulator: its admin route sets the balance a pull reads. */
  readonly bankingSimulator: string;
}

/** Why the demo cannot go on: the system is not there, the key is refused, or an answer made no sense. */
export class DemoStopped extends Error {
  constructor(
    readonly reason: "unreachable" | "unauthorised" | "failed",
    message: string,
  ) {
    super(message);
  }
}

/** An HTTP answer, its JSON body parsed (undefined when there was none). */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** `Idempotent-Replayed: true`: an earlier request with the same key already did this. */
  readonly replayed: boolean;
}

/** Worth another try: a 429 (after its Retry-After), a 503, a key still in use, a dropped connection. */
class TransientAnswer extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

const ATTEMPTS = 20;

/**
 * The demo's HTTP client: the command and query APIs with the API key, the SMS webhooks, and the
 * simulators' admin routes. Transient answers are retried (cockatiel, exponential with jitter, or
 * after the Retry-After a 429 names); a refused key and a system that is not there stop the demo.
 */
export class DemoClient {
  /** Requests sent, retries included. */
  requests = 0;
  readonly #endpoints: DemoEndpoints;
  readonly #apiKey: string;
  readonly #policy;

  constructor(endpoints: DemoEndpoints, apiKey: string) {
    this.#endpoints = endpoints;
    this.#apiKey = apiKey;
    const exponential = new ExponentialBackoff({ initialDelay: 100, maxDelay: 5000 });
    const backoff: IBackoffFactory<IRetryBackoffContext<unknown>> = new DelegateBackoff(
      (context: IRetryBackoffContext<unknown>, state?: IBackoff<unknown>) => {
        const current = state === undefined ? exponential.next() : state.next(undefined);
        const error = "error" in context.result ? context.result.error : undefined;
        const named = error instanceof TransientAnswer ? error.retryAfterMs : undefined;
        return { delay: named ?? current.duration, state: current };
      },
    );
    const transient = handleWhen((error) => error instanceof TransientAnswer);
    this.#policy = retry(transient, { maxAttempts: ATTEMPTS - 1, backoff });
  }

  /** A command (`POST` with an Idempotency-Key, or `PUT`); any answer but a refused key is returned. */
  command(method: "POST" | "PUT", path: string, body: unknown, idempotencyKey?: string): Promise<Answer> {
    return this.#send(`${this.#endpoints.commandApi}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#apiKey}`,
        "content-type": "application/json",
        ...(idempotencyKey === undefined ? {} : { "idempotency-key": idempotencyKey }),
      },
      body: JSON.stringify(body),
    });
  }

  query(path: string): Promise<Answer> {
    return this.#send(`${this.#endpoints.queryApi}${path}`, {
      headers: { authorization: `Bearer ${this.#apiKey}` },
    });
  }

  /** A customer's "STOP" as the built-in simulator forwards it: signed with its auth token. */
  textStop(from: string, messageSid: string): Promise<Answer> {
    const url = `${this.#endpoints.smsWebhooks}/sms/inbound?provider=simulator`;
    const form = { From: from, To: "Tidemark", Body: "STOP", MessageSid: messageSid };
    return this.#send(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilioSignature(SIMULATOR_AUTH_TOKEN, url, form),
      },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** Pins the final status of every SMS to `phone` at the SMS simulator. */
  pinOutcome(phone: string, outcome: FinalStatus): Promise<Answer> {
    const credentials = Buffer.from(`${SIMULATOR_ACCOUNT_SID}:${SIMULATOR_AUTH_TOKEN}`).toString("base64");
    return this.#send(
      `${this.#endpoints.smsSimulator}/__admin/numbers/${encodeURIComponent(phone)}/outcome`,
      {
        method: "PUT",
        headers: {
          authorization: `Basic ${credentials}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ Outcome: outcome }).toString(),
      },
    );
  }

  /** Sets the balance the Banking API simulator answers for the account (dated at the read). */
  setBankBalance(accountId: string, amount: string, currency: string): Promise<Answer> {
    const credit = !amount.startsWith("-");
    return this.#send(
      `${this.#endpoints.bankingSimulator}/__admin/accounts/${encodeURIComponent(accountId)}/balances`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${SIMULATOR_BANK_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify([
          {
            Amount: { Amount: credit ? amount : amount.slice(1), Currency: currency },
            CreditDebitIndicator: credit ? "Credit" : "Debit",
            Type: "InterimAvailable",
          },
        ]),
      },
    );
  }

  /** Whether anything answers HTTP at `base` (any status): the simulators' and webhooks' presence. */
  async answers(base: keyof DemoEndpoints): Promise<boolean> {
    try {
      const response = await fetch(this.#endpoints[base], { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }

  async #send(url: string, init: RequestInit): Promise<Answer> {
    return this.#policy.execute(async () => {
      this.requests += 1;
      let response: Response;
      try {
        response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      } catch (error) {
        throw unreachable(url, error);
      }
      const text = await response.text();
      const body: unknown = text === "" || !isJson(response) ? text || undefined : JSON.parse(text);
      checkAnswer(url, response, body);
      return {
        status: response.status,
        body,
        replayed: response.headers.get("idempotent-replayed") === "true",
      };
    });
  }
}

function isJson(response: Response): boolean {
  return /json/.test(response.headers.get("content-type") ?? "");
}

/** Throws what stops the demo (a refused key) and what is worth another try. */
function checkAnswer(url: string, response: Response, body: unknown): void {
  const code = (body as { code?: unknown } | undefined)?.code;
  if (response.status === 401 && typeof code === "string") {
    throw new DemoStopped(
      "unauthorised",
      `${new URL(url).origin} refused the API key (${code}): pass --api-key or set TIDEMARK_API_KEY ` +
        "(npm start on the embedded default writes its key to .tidemark/dev-api-key)",
    );
  }
  if (response.status === 403 && code === "forbidden") {
    throw new DemoStopped("unauthorised", `the API key may not do this: ${JSON.stringify(body)}`);
  }
  const retryAfter = Number(response.headers.get("retry-after"));
  const named = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
  if (response.status === 429 || response.status === 503 || code === "idempotency_key_in_use") {
    throw new TransientAnswer(`${url}: ${response.status}`, named);
  }
}

/** A connection that failed: refused is the system not running; anything else may pass. */
function unreachable(url: string, error: unknown): Error {
  const cause = (error as { cause?: { code?: string } }).cause;
  if (cause?.code === "ECONNREFUSED") return notRunning(url);
  return new TransientAnswer(`${url}: ${error instanceof Error ? error.message : String(error)}`, undefined);
}

/** The system is not there: one line saying where the demo looked and what to do. */
export function notRunning(url: string): DemoStopped {
  return new DemoStopped(
    "unreachable",
    `nothing answers at ${new URL(url).origin}: start the system first (npm start, in another terminal)`,
  );
}
