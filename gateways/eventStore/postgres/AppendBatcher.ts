/**
 * Micro-batching without a timer: appends submitted in the same turn of the event loop leave
 * together, as do appends that arrive while every batch slot is busy, as one round trip and one
 * transaction (one WAL flush for many appends). A lone append waits for nothing but the tick.
 */
export class AppendBatcher<Request, Result> {
  readonly #queue: {
    request: Request;
    resolve: (result: Result) => void;
    reject: (error: unknown) => void;
  }[] = [];
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
  ) {}

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
      const batch = this.#queue.splice(0, this.maxBatchSize);
      this.#inFlight += 1;
      this.sendBatch(batch.map((pending) => pending.request))
        .then(
          (answers) => {
            batch.forEach((pending, index) => {
              const answer = answers[index];
              if (answer instanceof Error) pending.reject(answer);
              else if (answer === undefined) pending.reject(new Error("append batch returned no answer"));
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
}
