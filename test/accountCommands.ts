import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../domain/values/TimeZone.ts";

/** For tests: open `accountId` in GBP, London, service alerts consented, marketing not. */
export function openAccountCommand(accountId: string, nowMs: number): AccountCommand {
  return {
    type: "OpenAccount",
    data: {
      accountId,
      customerId: `customer-${accountId}`,
      phone: "+447911123456" as PhoneNumber,
      currency: "GBP",
      timeZone: "Europe/London" as TimeZone,
      consents: { service: true, marketing: false },
      now: epochMsToInstant(nowMs),
    },
  };
}

/** For tests: a pushed GBP balance (`"50.00"`) observed, referenced and recorded at `atMs`. */
export function recordBalanceCommand(decimal: string, atMs: number): AccountCommand {
  const at = epochMsToInstant(atMs);
  return {
    type: "RecordBalance",
    data: {
      balance: { minor: BigInt(Math.round(Number(decimal) * 100)), currency: "GBP" },
      balanceType: "InterimAvailable",
      creditLines: [],
      referenceTime: at,
      source: "push",
      bankReference: null,
      now: at,
    },
  };
}
