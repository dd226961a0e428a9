import type { Redis } from "ioredis";
import { isCurrentBalanceType, parseBalanceType } from "../../domain/values/BalanceType.ts";
import type { CreditLineData } from "../../domain/values/CreditLine.ts";
import { moneyFromData, moneyToData } from "../../domain/values/Money.ts";
import type { BankBalance } from "./BankingApiClient.ts";

/** Recent bank balances, so that reads close together (a schedule, then a pre-send recheck) reach the bank once. */
export interface BalanceCache {
  get(accountId: string): Promise<BankBalance | undefined>;
  set(accountId: string, balance: BankBalance): Promise<void>;
}

interface StoredBalance {
  readonly minor: string;
  readonly currency: BankBalance["balance"]["currency"];
  readonly balanceType: string;
  /** Absent in entries written before credit lines were kept: read as a miss. */
  readonly creditLines?: readonly CreditLineData[];
  readonly referenceTime: BankBalance["referenceTime"];
  readonly bankReference: string | null;
}

const toStored = (balance: BankBalance): StoredBalance => ({
  minor: balance.balance.minor.toString(),
  currency: balance.balance.currency,
  balanceType: balance.balanceType,
  creditLines: balance.creditLines.map((line) => ({
    included: line.included,
    type: line.type,
    amount: line.amount === null ? null : moneyToData(line.amount),
  })),
  referenceTime: balance.referenceTime,
  bankReference: balance.bankReference,
});

/** The stored balance, or undefined for an entry of another shape (written by an older version). */
const fromStored = (stored: StoredBalance): BankBalance | undefined => {
  const balanceType = parseBalanceType(stored.balanceType);
  if (stored.creditLines === undefined || balanceType === undefined || !isCurrentBalanceType(balanceType)) {
    return undefined;
  }
  return {
    balance: { minor: BigInt(stored.minor), currency: stored.currency },
    balanceType,
    creditLines: stored.creditLines.map((line) => ({
      included: line.included,
      type: line.type,
      amount: line.amount === null ? null : moneyFromData(line.amount),
    })),
    referenceTime: stored.referenceTime,
    bankReference: stored.bankReference,
  };
};

/** In-process, for the embedded default and tests. */
export class MemoryBalanceCache implements BalanceCache {
  readonly #entries = new Map<string, { balance: BankBalance; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get(accountId: string): Promise<BankBalance | undefined> {
    const entry = this.#entries.get(accountId);
    if (entry === undefined || entry.until <= this.clock()) return Promise.resolve(undefined);
    return Promise.resolve(entry.balance);
  }

  set(accountId: string, balance: BankBalance): Promise<void> {
    this.#entries.set(accountId, { balance, until: this.clock() + this.ttlMs });
    return Promise.resolve();
  }
}

/** Shared by every gateway replica; a Redis that fails is a miss (one more bank read), never an error. */
export class RedisBalanceCache implements BalanceCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
    private readonly prefix = "tidemark:balance:",
  ) {}

  async get(accountId: string): Promise<BankBalance | undefined> {
    try {
      const text = await this.redis.get(`${this.prefix}${accountId}`);
      return text === null ? undefined : fromStored(JSON.parse(text) as StoredBalance);
    } catch {
      return undefined;
    }
  }

  async set(accountId: string, balance: BankBalance): Promise<void> {
    try {
      await this.redis.set(`${this.prefix}${accountId}`, JSON.stringify(toStored(balance)), "PX", this.ttlMs);
    } catch {
      // Slower next time, not wrong.
    }
  }
}
