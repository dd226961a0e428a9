import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";

/**
 * A PostgreSQL session advisory lock held on a connection of its own: one holder at a time per
 * (class, name) across every process on the database. The lock lives as long as the connection,
 * so a holder that dies (or whose connection breaks) loses it, and a standby takes over.
 */
export class AdvisoryLease {
  readonly #client: pg.PoolClient;
  readonly #classId: number;
  readonly #name: string;
  #broken = false;
  readonly #onError: () => void;

  private constructor(client: pg.PoolClient, classId: number, name: string, onLost: () => void) {
    this.#client = client;
    this.#classId = classId;
    this.#name = name;
    this.#onError = () => {
      this.#broken = true;
      onLost();
    };
    client.on("error", this.#onError);
  }

  /**
   * Waits for the lock (polling every `pollMs` as a standby; `onStandby` said once), or returns
   * undefined when `signal` aborts first. `onLost` is called if the connection breaks later.
   */
  static async take(options: {
    readonly pool: pg.Pool;
    readonly classId: number;
    readonly name: string;
    readonly signal: AbortSignal;
    readonly onLost: () => void;
    readonly onStandby?: () => void;
    readonly pollMs?: number;
  }): Promise<AdvisoryLease | undefined> {
    const client = await options.pool.connect();
    let toldStandby = false;
    try {
      while (!options.signal.aborted) {
        const { rows } = await client.query<{ acquired: boolean }>(
          "select pg_try_advisory_lock($1, hashtext($2)) as acquired",
          [options.classId, options.name],
        );
        if (rows[0]?.acquired === true)
          return new AdvisoryLease(client, options.classId, options.name, options.onLost);
        if (!toldStandby) options.onStandby?.();
        toldStandby = true;
        await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal }).catch(() => undefined);
      }
    } catch (error) {
      client.release(true); // a connection that failed goes, rather than back to the pool
      throw error;
    }
    client.release();
    return undefined;
  }

  /** True once the lease's connection broke: the lock is gone. */
  get lost(): boolean {
    return this.#broken;
  }

  /** Unlocks and gives the connection back (a broken one is discarded). */
  async release(): Promise<void> {
    if (!this.#broken) {
      await this.#client
        .query("select pg_advisory_unlock($1, hashtext($2))", [this.#classId, this.#name])
        .catch(() => undefined);
    }
    // Back in the pool the connection is no longer this lease's: its later errors are not a loss.
    this.#client.removeListener("error", this.#onError);
    this.#client.release(this.#broken);
  }
}
