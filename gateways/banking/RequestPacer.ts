import { setTimeout as sleepFor } from "node:timers/promises";

/**
 * Spaces the calls of one process to a bank at most `perSecond` a second, in the order they ask:
 * each call is given the next free slot, one interval after the last one given (the generic cell
 * rate algorithm without a burst), and waits for it. A call whose slot would come later than it
 * can wait is not given one: the caller fails it as throttled rather than queueing it past its
 * deadline. Several processes share a bank's limit by each taking its share.
 */
export class RequestPacer {
  readonly #intervalMs: number;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  /** When the next slot is free. */
  #nextFreeMs = Number.NEGATIVE_INFINITY;

  constructor(
    perSecond: number,
    options: {
      readonly clock?: () => number;
      readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
    } = {},
  ) {
    if (!(Number.isFinite(perSecond) && perSecond > 0)) {
      throw new RangeError(`a pace is a positive number of calls a second, not ${perSecond}`);
    }
    this.#intervalMs = 1000 / perSecond;
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
  }

  /**
   * Waits for this call's slot and returns true; false at once, taking no slot, when the slot is
   * more than `maxWaitMs` away.
   */
  async take(maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    const now = this.#clock();
    const slot = Math.max(now, this.#nextFreeMs);
    const waitMs = slot - now;
    if (waitMs > maxWaitMs) return false;
    this.#nextFreeMs = slot + this.#intervalMs;
    if (waitMs > 0) await this.#sleep(waitMs, signal);
    return true;
  }
}
