/**
 * What a drill has started and must not leave behind — PostgreSQL clusters, Tidemark processes,
 * CLI children, directories — released in reverse order on every path: success, failure, and
 * Ctrl-C (the drill's entry point calls `releaseAll` from its signal handler, while the drill
 * itself may still be waiting on something).
 */
export class DrillResources {
  readonly #releases: { readonly name: string; readonly release: () => Promise<void> }[] = [];
  readonly #aborts = new AbortController();
  #released: Promise<string[]> = Promise.resolve([]);

  /** Aborted once `releaseAll` starts: long waits and child processes watch it. */
  get signal(): AbortSignal {
    return this.#aborts.signal;
  }

  /**
   * Registers a release; returns it, run-once and unregistered, for the drill to call when it is
   * done with the resource. After `releaseAll` has begun, a resource added (one that was being
   * created meanwhile) is released at once.
   */
  add(name: string, release: () => Promise<void>): () => Promise<void> {
    let running: Promise<void> | undefined;
    const entry = {
      name,
      release: () => {
        running ??= release();
        return running;
      },
    };
    this.#releases.push(entry);
    if (this.signal.aborted) void this.releaseAll();
    return async () => {
      const index = this.#releases.indexOf(entry);
      if (index >= 0) this.#releases.splice(index, 1);
      await entry.release();
    };
  }

  /**
   * Releases everything still registered, the newest first (a release that fails is reported, not
   * thrown, so the rest still run); calls overlapping one another run one after the other.
   * Returns what failed to release.
   */
  releaseAll(): Promise<string[]> {
    this.#aborts.abort();
    this.#released = this.#released.then(async (earlier) => [
      ...earlier,
      ...(await this.#releaseRemaining()),
    ]);
    return this.#released;
  }

  async #releaseRemaining(): Promise<string[]> {
    const failures: string[] = [];
    for (let entry = this.#releases.pop(); entry !== undefined; entry = this.#releases.pop()) {
      try {
        await entry.release();
      } catch (error) {
        failures.push(`${entry.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return failures;
  }
}
