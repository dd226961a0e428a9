import { randomUUID } from "node:crypto";

/** The event every system writes: small, like most of Tidemark's. */
export interface SampleDeposit {
  readonly type: "FundsDeposited";
  readonly data: { accountId: string; amount: number; currency: string };
  readonly metadata: { correlationId: string; actor: string };
}

/** A fresh sample event for `accountId` (a new correlation id each time, as real commands have). */
export function sampleDeposit(accountId: string): SampleDeposit {
  return {
    type: "FundsDeposited",
    data: { accountId, amount: 12345, currency: "GBP" },
    metadata: { correlationId: randomUUID(), actor: "bench" },
  };
}
