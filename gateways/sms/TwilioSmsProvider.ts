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
}

/** What a provider said about a message. */
export interface ProviderMessage {
  readonly sid: string;
  readonly status: string;
  readonly segments: number;
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
 * and find the messages sent under a reference (a simulator extension; reconciliation's lookup).
 */
export class TwilioSmsProvider {
  readonly #config: TwilioProviderConfig;
  readonly #timeoutMs: number;

  constructor(config: TwilioProviderConfig, timeoutMs = 5000) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
  }

  get name(): string {
    return this.#config.name;
  }

  /**
   * @throws ProviderRejectedError for a 4xx
   * @throws ProviderUnavailableError for a 5xx, a network failure or a timeout
   */
  async send(message: { to: string; body: string; statusCallback: string }): Promise<ProviderMessage> {
    const form = new URLSearchParams({
      To: message.to,
      From: this.#config.from,
      Body: message.body,
      StatusCallback: message.statusCallback,
    });
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
      // A timeout may come after the provider created the message; a refused connection cannot.
      throw new ProviderUnavailableError(
        timedOut ? "timeout" : "network",
        `${this.name}: ${error instanceof Error ? error.message : String(error)}`,
        timedOut,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      sid?: unknown;
      status?: unknown;
      num_segments?: unknown;
      code?: unknown;
      message?: unknown;
    };
    if (response.status >= 500) {
      throw new ProviderUnavailableError(
        `http-${response.status}`,
        `${this.name}: ${response.status}`,
        false,
      );
    }
    if (!response.ok) {
      const code =
        typeof body.code === "number" || typeof body.code === "string"
          ? String(body.code)
          : `http-${response.status}`;
      const reason = typeof body.message === "string" ? body.message : `answered ${response.status}`;
      throw new ProviderRejectedError(code, `${this.name}: ${reason}`);
    }
    return messageOf(body);
  }

  /** One message as the provider knows it now; undefined when it has none by that sid. @throws ProviderUnavailableError */
  async fetch(sid: string): Promise<(ProviderMessage & { readonly errorCode: string | null }) | undefined> {
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
    const body = (await response.json()) as { error_code?: unknown };
    const errorCode =
      typeof body.error_code === "number" || typeof body.error_code === "string"
        ? String(body.error_code)
        : null;
    return { ...messageOf(body as Record<string, unknown>), errorCode };
  }

  /** The messages created under our `reference`, oldest first. @throws ProviderUnavailableError */
  async findByReference(reference: string): Promise<ProviderMessage[]> {
    let response: Response;
    try {
      response = await fetch(this.#url(`/Messages.json?Reference=${encodeURIComponent(reference)}`), {
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
    const body = (await response.json()) as { messages?: unknown[] };
    return (body.messages ?? []).map((entry) => messageOf(entry as Record<string, unknown>));
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

function messageOf(body: { sid?: unknown; status?: unknown; num_segments?: unknown }): ProviderMessage {
  if (typeof body.sid !== "string" || typeof body.status !== "string") {
    throw new ProviderUnavailableError("invalid-answer", "the provider's answer has no sid or status", false);
  }
  return { sid: body.sid, status: body.status, segments: Number(body.num_segments ?? 1) || 1 };
}
