/**
 * Recently folded stream states, so that a command on a hot stream need not re-read it. Safe
 * because it is only ever a guess: the append names the revision the state was folded at, so a
 * stale entry makes the append fail, and the command is decided again on a fresh read.
 * Least-recently-used entries are dropped beyond `capacity`.
 */
export class StateCache<State> {
  readonly #entries = new Map<string, { readonly state: State; readonly revision: number }>();

  constructor(private readonly capacity = 10_000) {}

  get(streamId: string): { readonly state: State; readonly revision: number } | undefined {
    const entry = this.#entries.get(streamId);
    if (entry !== undefined) {
      this.#entries.delete(streamId);
      this.#entries.set(streamId, entry);
    }
    return entry;
  }

  set(streamId: string, state: State, revision: number): void {
    this.#entries.delete(streamId);
    this.#entries.set(streamId, { state, revision });
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  delete(streamId: string): void {
    this.#entries.delete(streamId);
  }
}
