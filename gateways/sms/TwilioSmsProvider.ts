import { SENDING_ORDER, type MessageClass } from "../../domain/values/MessageClass.ts";
import { RequestPacer } from "../pacing/RequestPacer.ts";
import { retryAfterMs } from "../pacing/retryAfterMs.ts";

/** One configured SMS provider speaking Twilio's Messages API (the simulator, or Twilio itself). */
export interface TwilioProviderConfig {
  /** Our name for it, recorded with every attempt ("primary", "backup", …). */
  readonly name: string;
  /** e.g. `https://api.twilio.com` or the simulator's `http://127.0.0.1:3010`. */
  readonly baseUrl: string;
  readonly accountSid: string;
  readonly authToken: string;
  /** The sender: a number or an alphanumeric sender id. */
  readonly from: string;
  /**
   * The provider's limit for this process, messages a second (`RequestPacer`); none when absent.
   * A provider takes more but queues them in its own order, not ours: paced, a service alert never
   * waits behind marketing offers already handed over.
   */
  readonly messagesPerSecond?: number | undefined;
}

/** What a provider said about a message. */
export interface ProviderMessage {
  readonly sid: string;
  readonly status: string;
  readonly segments: number;
  /** The provider's error code for a failed or undelivered message (Twilio's `error_code`). */
  readonly errorCode: string | null;
}

/** The provider refused the message (4xx): sending it again would be refused again. */
export class ProviderRejectedError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The provider did not answer usefully (5xx, network) or not in time. With `mayHaveSent` the
 * request may have reached it: the message may exist, so look it up before sending again.
 */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
    readonly mayHaveSent: boolean,
  ) {
    super(message);
  }
}

/**
 * A Twilio Messages API client: create a message (its status callback carries our reference),
 * fetch one, and find the messages we may have created to a number (reconciliation's lookup,
 * with Twilio's own list filter: Twilio keeps no reference of ours it could filter by).
 */
export class TwilioSmsProvider {
  readonly #config: TwilioProviderConfig;
  readonly #timeoutMs: number;
  /** Turns, in priority: where a message waits, as long as it takes, before it is claimed. */
  readonly #turns: RequestPacer<MessageClass> | undefined;
  /**
   * The requests themselves, in the order they come: what happens between a turn and its request
   * (checks, the claim) takes more or less time each, which would bunch requests on the wire.
   * Turns already come at the pace, so a request waits here only for that difference.
   */
  readonly #requests: RequestPacer | undefined;

  constructor(config: TwilioProviderConfig, timeoutMs = 5000) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
    const perSecond = config.messagesPerSecond;
    this.#turns = perSecond === undefined ? undefined : new RequestPacer(perSecond, { lanes: SENDING_ORDER });
    this.#requests = perSecond === undefined ? undefined : new RequestPacer(perSecond);
  }

  get name(): string {
    return this.#config.name;
  }

  /**
   * Waits until this process may send the provider its next message, under its messages a second:
   * waiting service alerts go before waiting marketing offers, each class in the order it asked.
   * At once without a limit. Call it before claiming each `send`: the wait is neither part of
   * `send`'s timeout nor of a claim's age. `send` itself keeps requests apart on the wire.
   * Resolves true when the provider is paced (the message may have waited: look at it again).
   */
  async turn(messageClass: MessageClass): Promise<boolean> {
    if (this.#turns === undefined) return false;
    await this.#turns.take(Number.POSITIVE_INFINITY, { lane: messageClass });
    return true;
  }

  /**
   * @throws ProviderRejectedError for a 4xx other than 429 about the message itself (a refusal of
   *   the provider account — 401, 403, `PROVIDER_ACCOUNT_CODES` — is a ProviderUnavailableError)
   * @throws ProviderUnavailableError for a 5xx, a 429 (too many requests: not processed, safe to
   *   send again; turns hold back for its Retry-After), a network failure, a timeout, or more
   *   messages waiting to go than fit in the timeout at the pace (sent without taking turns)
   */
  async send(message: { to: string; body: string; statusCallback: string }): Promise<ProviderMessage> {
    const form = new URLSearchParams({
      To: message.to,
      From: this.#config.from,
      Body: message.body,
      StatusCallback: message.statusCallback,
    });
    // Claimed by now: waiting longer than a request may take would age the claim; never sent.
    if (this.#requests !== undefined && !(await this.#requests.take(this.#timeoutMs))) {
      throw new ProviderUnavailableError("paced", `${this.name}: too many messages waiting to go`, false);
    }
    let response: Response;
    try {
      response = await fetch(this.#url("/Messages.json"), {
        method: "POST",
        headers: { ...this.#auth(), "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as { name?: string }).name === "TimeoutError";
      // A timeout or a connection lost after the request went out may come after the provider
      // created the message: it is looked up before anything is sent again. Only a connection
      // that was never made (refused, no such host) is known not to have reached it.
      throw new ProviderUnavailableError(
        timedOut ? "timeout" : "network",
        `${this.name}: ${describeFetchError(error)}`,
        timedOut || !neverConnected(error),
      );
    }
    // A body that cannot be read (cut off, not JSON, too slow for the timeout) reads as none.
    const body = ((await response.json().catch(() => undefined)) ?? {}) as {
      sid?: unknown;
      status?: unknown;
      num_segments?: unknown;
      code?: unknown;
      message?: unknown;
    };
    if (response.ok) {
      // A 2xx says the message was created, whatever its body says: never send it again blindly.
      if (typeof body.sid !== "string" || typeof body.status !== "string") {
        throw new ProviderUnavailableError(
          "invalid-answer",
          `${this.name}: answered ${response.status} without a readable message (it was created: looking it up)`,
          true,
        );
      }
      return messageOf(body);
    }
    const code =
      typeof body.code === "number" || typeof body.code === "string"
        ? String(body.code)
        : `http-${response.status}`;
    if (response.status === 429) {
      this.#holdBack(response.headers.get("retry-after"));
      throw new ProviderUnavailableError(code, `${this.name}: too many requests (429)`, false);
    }
    if (response.status >= 500) {
      // 500 and 503: the provider's own refusal, nothing created. A gateway's 502 or 504 (the proxy
      // before it gave up waiting) may come after the message was created: looked up first.
      throw new ProviderUnavailableError(
        `http-${response.status}`,
        `${this.name}: ${response.status}`,
        response.status === 502 || response.status === 504,
      );
    }
    const reason = typeof body.message === "string" ? body.message : `answered ${response.status}`;
    // Refused for what this provider account is (credentials, its standing, where it may send, its
    // sender), not for what the message is: another provider may send it, and this one again once
    // its account is put right. Nothing was created.
    if (response.status === 401 || response.status === 403 || PROVIDER_ACCOUNT_CODES.has(code)) {
      throw new ProviderUnavailableError(code, `${this.name}: ${reason}`, false);
    }
    throw new ProviderRejectedError(code, `${this.name}: ${reason}`);
  }

  /** One message as the provider knows it now; undefined when it has none by that sid. @throws ProviderUnavailableError */
  async fetch(sid: string): Promise<ProviderMessage | undefined> {
    let response: Response;
    try {
      response = await fetch(this.#url(`/Messages/${encodeURIComponent(sid)}.json`), {
        headers: this.#auth(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new ProviderUnavailableError(
        "network",
        `${this.name}: ${error instanceof Error ? error.message : String(error)}`,
        false,
      );
    }
    if (response.status === 404) {
      await response.arrayBuffer();
      return undefined;
    }
    if (!response.ok) {
      await response.arrayBuffer();
      throw new ProviderUnavailableError(
        `http-${response.status}`,
        `${this.name}: fetch answered ${response.status}`,
        false,
      );
    }
    return messageOf((await response.json()) as Record<string, unknown>);
  }

  /**
   * The messages to `to` whose body is exactly `body`, created no earlier than `since` (less
   * `FIND_SKEW_MS` for the two clocks), oldest first: where a message we may have created stands.
   * Twilio lists a number's messages newest first (`To`); body and time are matched here, since
   * a status callback's reference is not part of a message Twilio shows.
   * @throws ProviderUnavailableError
   */
  async findSent(sent: { to: string; body: string; since: number }): Promise<ProviderMessage[]> {
    const query = new URLSearchParams({ To: sent.to, PageSize: String(FIND_PAGE_SIZE) });
    let response: Response;
    try {
      response = await fetch(this.#url(`/Messages.json?${query.toString()}`), {
        headers: this.#auth(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new ProviderUnavailableError(
        "network",
        `${this.name}: ${error instanceof Error ? error.message : String(error)}`,
        false,
      );
    }
    if (!response.ok) {
      await response.arrayBuffer();
      throw new ProviderUnavailableError(
        `http-${response.status}`,
        `${this.name}: lookup answered ${response.status}`,
        false,
      );
    }
    const listed = (await response.json().catch(() => ({}))) as { messages?: unknown };
    if (!Array.isArray(listed.messages)) {
      throw new ProviderUnavailableError(
        "invalid-answer",
        `${this.name}: the lookup's answer lists no messages`,
        false,
      );
    }
    const earliest = sent.since - FIND_SKEW_MS;
    return (listed.messages as Record<string, unknown>[])
      .map((entry) => ({
        entry,
        createdMs: typeof entry.date_created === "string" ? Date.parse(entry.date_created) : Number.NaN,
      }))
      .filter(
        ({ entry, createdMs }) => entry.to === sent.to && entry.body === sent.body && createdMs >= earliest,
      )
      .sort((a, b) => a.createdMs - b.createdMs)
      .map(({ entry }) => messageOf(entry));
  }

  /** After a 429: no message to this provider from this process before its Retry-After (1 s if none). */
  #holdBack(retryAfter: string | null): void {
    const holdMs = Math.min(retryAfterMs(retryAfter) ?? 1000, RETRY_AFTER_CAP_MS);
    this.#turns?.holdFor(holdMs);
  }

  #url(path: string): string {
    return `${this.#config.baseUrl}/2010-04-01/Accounts/${this.#config.accountSid}${path}`;
  }

  #auth(): Record<string, string> {
    const credentials = Buffer.from(`${this.#config.accountSid}:${this.#config.authToken}`).toString(
      "base64",
    );
    return { authorization: `Basic ${credentials}` };
  }
}

/**
 * Twilio's error codes for a refusal of the provider account rather than of the message: 20003
 * (authentication), 20005 (account not active), 21408 (no permission to send to that region),
 * 21606 and 21212 (the sender is not this account's, or not valid), 30002 (account suspended).
 * A message's own faults (21211 a bad number, 21610 a recipient who replied STOP, 21614 not a
 * mobile) stay rejections: another provider would be refused the same, or must not send.
 */
const PROVIDER_ACCOUNT_CODES: ReadonlySet<string> = new Set([
  "20003",
  "20005",
  "21408",
  "21606",
  "21212",
  "30002",
]);

/**
 * Errors of a connection that was never made (refused, no such host, unreachable, the TLS
 * handshake refused): the request cannot have reached the provider. Any other (reset, closed
 * mid-answer) may have come after it did.
 */
const NEVER_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** fetch's error, or the cause it wraps ("fetch failed" says nothing), has a never-connected code. */
function neverConnected(error: unknown): boolean {
  const codes: unknown[] = [];
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 4; depth += 1) {
    codes.push((cause as { code?: unknown }).code);
    cause = cause.cause;
  }
  return codes.some((code) => typeof code === "string" && NEVER_CONNECTED.has(code));
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/** How far the provider's clock may be behind ours when a message's creation is compared with a claim. */
const FIND_SKEW_MS = 60_000;
/** A number's latest messages looked at: more than one customer gets in the minutes a claim lives. */
const FIND_PAGE_SIZE = 100;

/** A Retry-After longer than this is the fan-out's retry delays' to honour, not the pace's. */
const RETRY_AFTER_CAP_MS = 60_000;

function messageOf(body: {
  sid?: unknown;
  status?: unknown;
  num_segments?: unknown;
  error_code?: unknown;
}): ProviderMessage {
  if (typeof body.sid !== "string" || typeof body.status !== "string") {
    throw new ProviderUnavailableError("invalid-answer", "the provider's answer has no sid or status", false);
  }
  const errorCode =
    typeof body.error_code === "number" || typeof body.error_code === "string"
      ? String(body.error_code)
      : null;
  return { sid: body.sid, status: body.status, segments: Number(body.num_segments ?? 1) || 1, errorCode };
}
