import { setTimeout as sleep } from "node:timers/promises";

/** A command the command API answered 2xx: where its events went, as the answer said. */
export interface AcknowledgedCommand {
  readonly streamId: string;
  /** The stream's revision after the append: its events end there. */
  readonly revision: number;
  readonly events: number;
  readonly position: string | null;
  readonly acknowledgedAtMs: number;
}

export interface CommandWorkloadOptions {
  readonly commandUrl: string;
  readonly apiKey: string;
  /** Clients, each with a request in flight or about to send one. */
  readonly concurrency: number;
  /** Commands per second across all clients; 0: each sends again as soon as it is answered. */
  readonly rate: number;
  /** Accounts each client opens and then pushes balances to, in turn. */
  readonly accountsPerClient: number;
  /** Account ids are `<prefix>-<client>-<n>`. */
  readonly accountPrefix: string;
  /** A request unanswered after this long counts as failed (default 10 s). */
  readonly requestTimeoutMs?: number;
}

/**
 * The steady command workload of the failover drill: `concurrency` clients, each opening its own
 * accounts and then pushing balances to them (a random walk across the rules' thresholds, so
 * some pushes also qualify or disqualify), paced to `rate`. Each account belongs to one client,
 * which waits for every answer, so a stream's revisions follow the acknowledgements exactly and
 * every 2xx is recorded with the revision it reached: after a failover, an acknowledged command
 * is lost exactly when its stream on the new primary ends before that revision.
 */
export class CommandWorkload {
  readonly acknowledged: AcknowledgedCommand[] = [];
  /** Answers other than 2xx and requests that failed, by status or error code. */
  readonly failures = new Map<string, number>();
  readonly startedAtMs = Date.now();
  #inFlight = 0;
  #stopping = false;
  readonly #clients: Promise<void>[];
  readonly #options: CommandWorkloadOptions;

  private constructor(options: CommandWorkloadOptions) {
    this.#options = options;
    this.#clients = Array.from({ length: options.concurrency }, (_, client) => this.#runClient(client));
  }

  /** Starts the clients; they run until `stop`. */
  static start(options: CommandWorkloadOptions): CommandWorkload {
    return new CommandWorkload(options);
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  get failed(): number {
    return [...this.failures.values()].reduce((sum, count) => sum + count, 0);
  }

  /** Sends nothing more; resolves once every request in flight has been answered or has failed. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#clients);
  }

  #stopRequested(): boolean {
    return this.#stopping;
  }

  async #runClient(client: number): Promise<void> {
    const { rate, concurrency, accountsPerClient, accountPrefix } = this.#options;
    const intervalMs = rate > 0 ? (1000 * concurrency) / rate : 0;
    const accounts: { id: string; balanceMinor: number; lastReferenceMs: number }[] = [];
    // Spread the clients' first requests over one interval, so the pace is steady from the start.
    let nextAtMs = Date.now() + (intervalMs * client) / concurrency;
    for (let turn = 0; !this.#stopping; turn += 1) {
      if (intervalMs > 0) {
        const waitMs = nextAtMs - Date.now();
        if (waitMs > 0) await sleep(waitMs);
        // Behind schedule (a slow answer): carry on from now rather than sending a burst.
        nextAtMs = Math.max(nextAtMs, Date.now() - intervalMs) + intervalMs;
        if (this.#stopRequested()) return;
      }
      if (accounts.length < accountsPerClient) {
        const id = `${accountPrefix}-${client}-${accounts.length}`;
        const opened = await this.#send("/accounts", {
          accountId: id,
          customerId: `customer-${id}`,
          phone: "+447911123456",
          currency: "GBP",
          timeZone: "Europe/London",
          consents: { service: true, marketing: false },
        });
        if (opened) accounts.push({ id, balanceMinor: 150_00, lastReferenceMs: 0 });
        continue;
      }
      const account = accounts[turn % accounts.length];
      if (account === undefined) continue;
      account.balanceMinor = Math.max(0, account.balanceMinor + Math.round((Math.random() - 0.5) * 80_00));
      // Strictly later than the account's previous balance, so none is ignored as stale.
      account.lastReferenceMs = Math.max(Date.now(), account.lastReferenceMs + 1);
      await this.#send(`/accounts/${account.id}/balances`, {
        amount: (account.balanceMinor / 100).toFixed(2),
        currency: "GBP",
        balanceType: "InterimAvailable",
        creditLineIncluded: false,
        referenceTime: new Date(account.lastReferenceMs).toISOString(),
      });
    }
  }

  /** One POST; true when it was acknowledged (and recorded). */
  async #send(path: string, body: unknown): Promise<boolean> {
    this.#inFlight += 1;
    try {
      const response = await fetch(`${this.#options.commandUrl}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.#options.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs ?? 10_000),
      });
      const text = await response.text();
      if (!response.ok) {
        this.#countFailure(`HTTP ${response.status}`);
        return false;
      }
      const answer = JSON.parse(text) as {
        streamId: string;
        revision: number;
        position: string | null;
        events: readonly string[];
      };
      this.acknowledged.push({
        streamId: answer.streamId,
        revision: answer.revision,
        events: answer.events.length,
        position: answer.position,
        acknowledgedAtMs: Date.now(),
      });
      return true;
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause;
      this.#countFailure(
        typeof cause?.code === "string" ? cause.code : error instanceof Error ? error.name : "error",
      );
      return false;
    } finally {
      this.#inFlight -= 1;
    }
  }

  #countFailure(reason: string): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }
}
