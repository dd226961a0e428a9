/**
 * How waiting work that is large is shared among free slots, so that it runs on several
 * connections (and cores) at once instead of as one long transaction while the others idle.
 */
export interface BatchSplitting<Request> {
  /** The work a request is, e.g. its events. */
  readonly weightOf: (request: Request) => number;
  /** Requests with the same key (a stream) always leave in the same batch, in their order. */
  readonly keyOf: (request: Request) => string;
  /** The least weight a batch of a split holds: smaller work leaves as one batch (one commit). */
  readonly minWeightEach: number;
}

/** How a batcher's requests may be shared among slots, and sent on their own. */
export interface MicroBatcherOptions<Request, Result> {
  readonly splitting?: BatchSplitting<Request>;
  /**
   * Sends one request on its own: a batch of one goes so (the plain statement, not the batched
   * one), and the requests of a batch that failed as a whole (a lost connection, one bad value)
   * are sent again so, each getting its own answer or error, `maxInFlight` at a time. Only for
   * requests that may be sent twice (reads; claims kept under their request's id); without it, a
   * failed batch fails every request in it.
   */
  readonly alone?: (request: Request) => Promise<Result>;
}

interface Pending<Request, Result> {
  readonly request: Request;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Micro-batching without a timer: requests submitted in the same turn of the event loop leave
 * together, as do requests that arrive while every batch slot is busy, as one round trip (for
 * the event store's appends also one transaction: one WAL flush for many appends; for its stream
 * reads and the refresh budget's claims one statement). A lone request waits for nothing but the
 * tick. With `splitting`, work of at least twice its `minWeightEach` that finds several slots
 * free is shared among them (same-key requests kept together, in order).
 */
export class MicroBatcher<Request, Result> {
  readonly #queue: Pending<Request, Result>[] = [];
  #inFlight = 0;
  #drainScheduled = false;

  /**
   * @param sendBatch sends requests together; answers each one (a result or an error), in order.
   * @param maxInFlight how many batches may be on the wire at once.
   * @param maxBatchSize the most requests in one batch.
   */
  constructor(
    private readonly sendBatch: (requests: readonly Request[]) => Promise<readonly (Result | Error)[]>,
    private readonly maxInFlight: number,
    private readonly maxBatchSize: number,
    private readonly options: MicroBatcherOptions<Request, Result> = {},
  ) {
    const { splitting } = options;
    if (splitting !== undefined && !(splitting.minWeightEach > 0)) {
      throw new RangeError(`minWeightEach must be above 0, not ${splitting.minWeightEach}`);
    }
  }

  submit(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      // Writers woken by the same finished batch resume in one microtask run: a tick later
      // they have all submitted, so they share the next batch instead of the first going alone.
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        process.nextTick(() => {
          this.#drainScheduled = false;
          this.#drain();
        });
      }
    });
  }

  #drain(): void {
    while (this.#inFlight < this.maxInFlight && this.#queue.length > 0) {
      const batch = this.#nextBatch(this.maxInFlight - this.#inFlight);
      this.#inFlight += 1;
      this.#send(batch.map((pending) => pending.request))
        .then(
          (answers) => {
            batch.forEach((pending, index) => {
              const answer = answers[index];
              if (answer instanceof Error) pending.reject(answer);
              else if (answer === undefined)
                pending.reject(new Error("a batch returned no answer for a request"));
              else pending.resolve(answer);
            });
          },
          (error: unknown) => batch.forEach((pending) => pending.reject(error)),
        )
        .finally(() => {
          this.#inFlight -= 1;
          this.#drain();
        });
    }
  }

  /** `requests` as one batch, or through `alone` (see `MicroBatcherOptions`). */
  async #send(requests: readonly Request[]): Promise<readonly (Result | Error)[]> {
    const { alone } = this.options;
    const [only] = requests;
    if (alone === undefined) return this.sendBatch(requests);
    if (requests.length === 1 && only !== undefined) return [await alone(only)];
    try {
      return await this.sendBatch(requests);
    } catch {
      // Each request again on its own, `maxInFlight` at a time: a failed batch (often a lost
      // connection, as in an outage) must not become as many statements at once.
      const answers: (Result | Error)[] = new Array<Error>(requests.length);
      let next = 0;
      const sendNext = async (): Promise<void> => {
        for (let index = next++; index < requests.length; index = next++) {
          answers[index] = await alone(requests[index] as Request).catch((error: unknown) =>
            error instanceof Error ? error : new Error(String(error)),
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.maxInFlight, requests.length) }, sendNext));
      return answers;
    }
  }

  /**
   * The next batch for one of `freeSlots` slots: up to `maxBatchSize` requests, or, when splitting
   * and that work is large enough for several slots, an even share of it; the rest stays queued,
   * first in line. Every request of a key in the batch, among the `maxBatchSize` taken, goes with
   * it: a split never parts a key's requests. (Requests beyond those taken, or arriving while a
   * batch is in flight, may still go out beside it, as without splitting: a stream's writers
   * await their appends, and an expected revision refuses whatever raced.)
   */
  #nextBatch(freeSlots: number): Pending<Request, Result>[] {
    const taken = this.#queue.splice(0, this.maxBatchSize);
    const { splitting } = this.options;
    if (splitting === undefined || freeSlots < 2) return taken;
    const weights = taken.map((pending) => splitting.weightOf(pending.request));
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const parts = Math.min(freeSlots, Math.floor(total / splitting.minWeightEach));
    if (parts < 2) return taken;
    const share = total / parts;
    const batch: Pending<Request, Result>[] = [];
    const rest: Pending<Request, Result>[] = [];
    const batchKeys = new Set<string>();
    let weight = 0;
    // Once the batch has its share, the rest stays, but for requests of keys already in the batch.
    taken.forEach((pending, index) => {
      const key = splitting.keyOf(pending.request);
      if (weight < share || batchKeys.has(key)) {
        batch.push(pending);
        batchKeys.add(key);
        weight += weights[index] ?? 0;
      } else {
        rest.push(pending);
      }
    });
    this.#queue.unshift(...rest);
    return batch;
  }
}
