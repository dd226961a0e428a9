import { BENCH_WRITER_KEY } from "./ProjectionsBenchmarkServerRequest.ts";

/** One `POST /accounts/{id}/balances` request, ready to send. */
export interface BalancePush {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The balance pushes of the latency runs, round the accounts `bench-0` … in turn. Each push is a
 * millisecond newer than the one before it, so every push is recorded (never `stale`), and carries
 * an Idempotency-Key of its own, as a client retrying safely would send. Reference times start an
 * hour before the sequence is made: within the bounds the command API accepts (a few minutes
 * ahead of its clock, days behind) for the first 3.6 million pushes.
 */
export class BalancePushSequence {
  #sequence = 0;
  readonly #firstReferenceTime = Date.now() - 3_600_000;

  constructor(
    private readonly accounts: number,
    private readonly runId: string,
  ) {}

  /** The account ids the pushes go to, for opening them beforehand. */
  accountIds(): string[] {
    return Array.from({ length: this.accounts }, (_, index) => `bench-${index}`);
  }

  next(): BalancePush {
    this.#sequence += 1;
    const sequence = this.#sequence;
    const account = sequence % this.accounts;
    const round = Math.floor(sequence / this.accounts);
    return {
      path: `/accounts/bench-${account}/balances`,
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${BENCH_WRITER_KEY}`,
        "idempotency-key": `${this.runId}-${sequence}`,
      },
      body: JSON.stringify({
        // 40.00 to 199.00, round after round: across the shipped low-balance rule (below 100.00,
        // re-armed above 150.00), so some pushes qualify or disqualify the account as well.
        amount: `${40 + ((round * 53 + account * 7) % 160)}.00`,
        currency: "GBP",
        balanceType: "InterimAvailable",
        creditLineIncluded: false,
        referenceTime: new Date(this.#firstReferenceTime + sequence).toISOString(),
      }),
    };
  }
}
