import test from "ava";
import fc from "fast-check";
import { parseBankAmount } from "./parseBankAmount.ts";
import { parseMoney } from "./Money.ts";

test("amounts with 0 to 5 decimals, as the Open Banking pattern allows, are read", (t) => {
  t.deepEqual(parseBankAmount("5", "Credit", "GBP"), { minor: 500n, currency: "GBP" });
  t.deepEqual(parseBankAmount("12.3", "Credit", "GBP"), { minor: 1230n, currency: "GBP" });
  t.deepEqual(parseBankAmount("12.30", "Credit", "GBP"), { minor: 1230n, currency: "GBP" });
  t.deepEqual(parseBankAmount("12.34567", "Credit", "GBP"), { minor: 1234n, currency: "GBP" });
  t.deepEqual(parseBankAmount("9999999999999.99999", "Credit", "EUR"), {
    minor: 999999999999999n,
    currency: "EUR",
  });
});

test("digits below the currency's minor unit are floored: a debit of 12.345 is -12.35, a credit 12.34", (t) => {
  t.deepEqual(parseBankAmount("12.345", "Credit", "GBP"), { minor: 1234n, currency: "GBP" });
  t.deepEqual(parseBankAmount("12.345", "Debit", "GBP"), { minor: -1235n, currency: "GBP" });
  t.deepEqual(parseBankAmount("12.340", "Debit", "GBP"), { minor: -1234n, currency: "GBP" });
  t.deepEqual(parseBankAmount("0.001", "Debit", "GBP"), { minor: -1n, currency: "GBP" });
  t.deepEqual(parseBankAmount("0.001", "Credit", "GBP"), { minor: 0n, currency: "GBP" });
  t.deepEqual(parseBankAmount("0.00", "Debit", "GBP"), { minor: 0n, currency: "GBP" });
  t.deepEqual(parseBankAmount("100.5", "Credit", "JPY"), { minor: 100n, currency: "JPY" });
  t.deepEqual(parseBankAmount("100.5", "Debit", "JPY"), { minor: -101n, currency: "JPY" });
});

test("floored, every threshold in whole minor units compares as the true amount does", (t) => {
  // x < T ⇔ floor(x) < T for any T in whole minor units: what keeps "below 100.00" true.
  const amount = fc
    .tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 99_999 }), fc.boolean())
    .map(([whole, fraction, debit]) => ({
      text: `${whole}.${String(fraction).padStart(5, "0")}`,
      debit,
      hundredThousandths: BigInt(whole) * 100_000n + BigInt(fraction),
    }));
  fc.assert(
    fc.property(amount, fc.integer({ min: -10_000_000, max: 10_000_000 }), (x, thresholdMinor) => {
      const money = parseBankAmount(x.text, x.debit ? "Debit" : "Credit", "GBP");
      if ("error" in money) return false;
      const trueValue = x.debit ? -x.hundredThousandths : x.hundredThousandths; // in 1/100000
      const threshold = BigInt(thresholdMinor) * 1000n;
      return (
        money.minor < BigInt(thresholdMinor) === trueValue < threshold &&
        money.minor >= BigInt(thresholdMinor) === trueValue >= threshold
      );
    }),
  );
  t.pass();
});

test("anything outside the Open Banking pattern is refused, with the reason", (t) => {
  for (const text of [
    "",
    "12.",
    ".5",
    "-5",
    "+5",
    "1e3",
    "12.345678",
    "12345678901234",
    "1,50",
    " 5",
    "0x10",
  ]) {
    const parsed = parseBankAmount(text, "Credit", "GBP");
    t.true("error" in parsed, text);
  }
});

test("the push API's parseMoney stays strict: more decimals than the currency has is refused", (t) => {
  t.true("error" in parseMoney("12.345", "GBP"));
});
