import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";

/**
 * Wakes subscribers when appends commit: at once in this process, and through NOTIFY / one
 * shared LISTEN connection across processes. A notification is only a hint: subscribers always
 * re-read, and poll on a timer as a fallback, so a lost connection or notification costs
 * latency, never events.
 *
 * NOTIFY is sent after the append's commit, not inside its transaction: PostgreSQL serialises
 * the commits of notifying transactions (a global lock held to the end of commit), which would
 * undo group commit. At most one NOTIFY per process is in flight; appends meanwhile coalesce.
 *
 * A generation counter closes the race between "read found nothing" and "start waiting": a
 * waiter passes the generation it saw before reading and returns at once if it has moved.
 */
const NOTIFY_INTERVAL_MS = 2;

export class LogWakeups {
  #generation = 0;
  #waiters = new Set<() => void>();
  #client: pg.PoolClient | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #notifying = false;
  #announcements = 0;
  // Our own NOTIFYs come back through LISTEN; local subscribers were already woken.
  readonly #senderId = randomUUID();

  constructor(
    private readonly pool: pg.Pool,
    private readonly channel: string,
  ) {}

  get generation(): number {
    return this.#generation;
  }

  /** Starts listening (idempotent). A failure is retried in the background; polling covers the gap. */
  ensureListening(): void {
    if (this.#closed || this.#client !== undefined || this.#connecting !== undefined) return;
    this.#connecting = this.#listen().finally(() => {
      this.#connecting = undefined;
    });
  }

  /** Tells every subscriber, here and in other processes, that appends have committed. */
  announceAppend(): void {
    this.#wakeAll();
    this.#announcements += 1;
    if (this.#notifying) return;
    this.#notifying = true;
    void this.#sendNotifications();
  }

  async #sendNotifications(): Promise<void> {
    try {
      let announced: number;
      do {
        announced = this.#announcements;
        await this.pool.query("select pg_notify($1, $2)", [this.channel, this.#senderId]);
        await sleep(NOTIFY_INTERVAL_MS);
      } while (announced !== this.#announcements && !this.#closed);
    } catch {
      // Other processes' subscribers fall back to their poll; nothing is lost.
    } finally {
      this.#notifying = false;
    }
  }

  /** Resolves on the next notification after `seenGeneration`, after `timeoutMs`, or on close. */
  async waitForAppend(seenGeneration: number, timeoutMs: number): Promise<void> {
    if (this.#generation !== seenGeneration || this.#closed) return;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#wakeAll();
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) {
      client.removeAllListeners("notification");
      client.removeAllListeners("error");
      // The connection is discarded, not returned to the pool, so no LISTEN leaks into reuse.
      client.release(true);
    }
  }

  async #listen(): Promise<void> {
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      client.on("notification", (message) => {
        if (message.payload !== this.#senderId) this.#wakeAll();
      });
      client.on("error", () => this.#dropAndRetry());
      await client.query(`LISTEN "${this.channel}"`);
      if (this.#closed) {
        client.release(true);
        return;
      }
      this.#client = client;
      // Anything appended while we were not listening must not wait for the fallback poll.
      this.#wakeAll();
    } catch {
      client?.release(true);
      this.#scheduleRetry();
    }
  }

  #dropAndRetry(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.release(true);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => this.ensureListening(), 1000);
    this.#retryTimer.unref();
  }

  #wakeAll(): void {
    this.#generation += 1;
    for (const wake of [...this.#waiters]) wake();
  }
}
