import { setTimeout as sleepFor } from "node:timers/promises";

export interface RequestPacerOptions<Lane extends string> {
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<unknown>;
  /** The lanes calls wait in, the first served first (default: one lane, `default`). */
  readonly lanes?: readonly Lane[];
}

/** One call waiting for its slot. */
interface Waiter {
  readonly deadlineMs: number;
  readonly settle: (granted: boolean) => void;
}

/**
 * Spaces the calls of one process to a remote party (a bank, an SMS provider) at most `perSecond`
 * a second: each slot is given at least one interval after the last one given (the generic cell
 * rate algorithm without a burst), so no window of a second ever holds more than `perSecond`
 * calls. Calls wait in lanes: when a slot comes, the first call of the first lane that has one
 * takes it (service alerts before marketing offers), and calls within a lane go in the order they
 * asked. A call whose slot would come later than it can wait is told so instead of queueing past
 * its deadline. Several processes share a limit by each taking its share.
 */
export class RequestPacer<Lane extends string = "default"> {
  readonly #intervalMs: number;
  readonly #clock: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  readonly #lanes: ReadonlyMap<Lane, Waiter[]>;
  readonly #firstLane: Lane;
  /** When the next slot is free. */
  #nextFreeMs = Number.NEGATIVE_INFINITY;
  #serving = false;

  constructor(perSecond: number, options: RequestPacerOptions<Lane> = {}) {
    if (!(Number.isFinite(perSecond) && perSecond > 0)) {
      throw new RangeError(`a pace is a positive number of calls a second, not ${perSecond}`);
    }
    const lanes = options.lanes ?? ["default" as Lane];
    if (lanes[0] === undefined) throw new RangeError("a pacer needs at least one lane");
    this.#intervalMs = 1000 / perSecond;
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => sleepFor(ms));
    this.#lanes = new Map(lanes.map((lane) => [lane, []]));
    this.#firstLane = lanes[0];
  }

  /**
   * Waits for this call's slot and resolves true. Resolves false at once, taking no slot, when
   * the slot is more than `maxWaitMs` away given the calls already waiting in this lane and the
   * lanes before it; false later if calls of earlier lanes that came meanwhile push it past that.
   * An aborted call leaves its lane and rejects with the signal's reason.
   */
  take(
    maxWaitMs: number,
    options: { readonly signal?: AbortSignal; readonly lane?: Lane } = {},
  ): Promise<boolean> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const queue = this.#lanes.get(options.lane ?? this.#firstLane);
    if (queue === undefined) throw new RangeError(`no lane ${options.lane}`);
    const now = this.#clock();
    const slotMs = Math.max(now, this.#nextFreeMs) + this.#waitingUpTo(queue) * this.#intervalMs;
    if (slotMs - now > maxWaitMs) return Promise.resolve(false);
    if (!this.#serving && slotMs === now) {
      this.#nextFreeMs = now + this.#intervalMs;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => {
        queue.splice(queue.indexOf(waiter), 1);
        reject(signal?.reason as Error);
      };
      const waiter: Waiter = {
        deadlineMs: now + maxWaitMs,
        settle: (granted) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(granted);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.push(waiter);
      if (!this.#serving) void this.#serve();
    });
  }

  /** Gives no slot for the next `ms` (a provider's Retry-After): every call waits past it. */
  holdFor(ms: number): void {
    this.#nextFreeMs = Math.max(this.#nextFreeMs, this.#clock() + ms);
  }

  /** How many calls wait in `queue` and the lanes before it: all of them go first. */
  #waitingUpTo(queue: readonly Waiter[]): number {
    let waiting = 0;
    for (const lane of this.#lanes.values()) {
      waiting += lane.length;
      if (lane === queue) break;
    }
    return waiting;
  }

  /** Until no call waits: the next slot to the first call of the first lane that has one. */
  async #serve(): Promise<void> {
    this.#serving = true;
    try {
      for (;;) {
        const queue = [...this.#lanes.values()].find((lane) => lane.length > 0);
        if (queue === undefined) return;
        const waitMs = this.#nextFreeMs - this.#clock();
        // Then look again: an earlier lane's call may have come, or a hold moved the slot.
        if (waitMs > 0) {
          await this.#sleep(waitMs);
          continue;
        }
        const waiter = queue.shift() as Waiter;
        const now = this.#clock();
        if (now > waiter.deadlineMs) {
          waiter.settle(false);
          continue;
        }
        this.#nextFreeMs = now + this.#intervalMs;
        waiter.settle(true);
      }
    } finally {
      this.#serving = false;
    }
  }
}
