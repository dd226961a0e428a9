import test from "ava";
import type { BalanceType } from "../values/BalanceType.ts";
import type { Instant } from "../values/Instant.ts";
import type { Currency } from "../values/Money.ts";
import { chooseCurrentBalance, type ReportedBalance } from "./chooseCurrentBalance.ts";

const AT = "2026-11-24T09:00:00.000Z" as Instant;

function reported(
  type: BalanceType,
  minor: bigint,
  currency: Currency = "GBP",
  referenceTime: Instant = AT,
): ReportedBalance {
  return { type, balance: { minor, currency }, creditLines: [], referenceTime };
}

test("interim available wins whatever the order", (t) => {
  const chosen = chooseCurrentBalance(
    [reported("ClosingBooked", 100n), reported("InterimBooked", 200n), reported("InterimAvailable", 300n)],
    "GBP",
  );
  t.like(chosen, { status: "chosen", balance: { type: "InterimAvailable", balance: { minor: 300n } } });
});

test("a forward balance is never today's: [ForwardAvailable 5000.00, InterimBooked 12.00] is 12.00", (t) => {
  const chosen = chooseCurrentBalance(
    [reported("ForwardAvailable", 500_000n), reported("InterimBooked", 1200n)],
    "GBP",
  );
  t.like(chosen, { status: "chosen", balance: { type: "InterimBooked", balance: { minor: 1200n } } });
});

test("only the account's currency counts, wherever it stands in the list", (t) => {
  const chosen = chooseCurrentBalance(
    [reported("InterimAvailable", 4200n, "EUR"), reported("InterimAvailable", 9900n, "GBP")],
    "GBP",
  );
  t.like(chosen, { status: "chosen", balance: { balance: { minor: 9900n, currency: "GBP" } } });
});

test("the documented precedence: interim, then closing, then opening; available, booked, cleared", (t) => {
  const order: BalanceType[] = [
    "InterimAvailable",
    "InterimBooked",
    "InterimCleared",
    "ClosingAvailable",
    "ClosingBooked",
    "ClosingCleared",
    "OpeningAvailable",
    "OpeningBooked",
    "OpeningCleared",
  ];
  for (let index = 0; index < order.length; index += 1) {
    const candidates = order
      .slice(index)
      .reverse()
      .map((type, at) => reported(type, BigInt(at)));
    const chosen = chooseCurrentBalance(candidates, "GBP");
    t.like(chosen, { status: "chosen", balance: { type: order[index] } }, String(order[index]));
  }
});

test("two balances of the best type: the one the bank dated last", (t) => {
  const chosen = chooseCurrentBalance(
    [
      reported("InterimAvailable", 100n, "GBP", "2026-11-24T08:00:00.000Z" as Instant),
      reported("InterimAvailable", 200n, "GBP", "2026-11-24T10:00:00.000Z" as Instant),
      reported("InterimAvailable", 300n, "GBP", "2026-11-24T09:00:00.000Z" as Instant),
    ],
    "GBP",
  );
  t.like(chosen, { status: "chosen", balance: { balance: { minor: 200n } } });
});

test("only forward, expected, informational or past balances, or other currencies: no current balance", (t) => {
  const chosen = chooseCurrentBalance(
    [
      reported("ForwardAvailable", 1n),
      reported("Expected", 2n),
      reported("Information", 3n),
      reported("PreviouslyClosedBooked", 4n),
      reported("InterimAvailable", 5n, "EUR"),
    ],
    "GBP",
  );
  t.like(chosen, { status: "none", reason: "no_current_balance" });
  if (chosen.status === "none") {
    t.regex(chosen.detail, /ForwardAvailable GBP/);
    t.regex(chosen.detail, /InterimAvailable EUR/);
  }
  t.like(chooseCurrentBalance([], "GBP"), { status: "none", reason: "no_current_balance" });
});

test("credit lines stay with the chosen balance", (t) => {
  const line = { included: true, type: "Pre-Agreed", amount: { minor: 50_000n, currency: "GBP" } } as const;
  const chosen = chooseCurrentBalance([{ ...reported("InterimAvailable", 1n), creditLines: [line] }], "GBP");
  t.like(chosen, { status: "chosen", balance: { creditLines: [line] } });
});
