import { CURRENCY_MINOR_DIGITS, type Currency, type Money } from "./Money.ts";

/** Open Banking `OBCreditDebitCode`: the sign of an amount the bank writes unsigned. */
export type CreditDebitIndicator = "Credit" | "Debit";

/** `OBActiveCurrencyAndAmount_SimpleType` (UK Open Banking v3.1.x): 1–13 digits, 0–5 decimals, unsigned. */
const OB_AMOUNT = /^(\d{1,13})(?:\.(\d{1,5}))?$/;

/**
 * Reads an amount as a bank answers it (Open Banking: unsigned decimal with up to five decimals,
 * sign given by `CreditDebitIndicator`) into money in the currency's minor units.
 *
 * A currency with two minor digits cannot hold 12.345, so digits below the minor unit are
 * floored (toward negative infinity: credit 12.345 → 12.34, debit 12.345 → -12.35). Floor, not
 * rounding, because for every threshold T in whole minor units `x < T ⇔ floor(x) < T` and
 * `x ≥ T ⇔ floor(x) ≥ T`: each rule compares exactly as it would with the bank's amount, and
 * an SMS states the balance to the minor unit. (The push API stays strict: `parseMoney`.)
 */
export function parseBankAmount(
  amount: string,
  indicator: CreditDebitIndicator,
  currency: Currency,
): Money | { readonly error: string } {
  const match = OB_AMOUNT.exec(amount);
  if (match === null) {
    return { error: `"${amount}" is not an Open Banking amount (1-13 digits, up to 5 decimals, no sign)` };
  }
  const [, whole = "0", fraction = ""] = match;
  const digits = CURRENCY_MINOR_DIGITS[currency];
  const kept = fraction.slice(0, digits).padEnd(digits, "0");
  const dropped = fraction.slice(digits);
  const magnitude = BigInt(whole) * 10n ** BigInt(digits) + BigInt(kept || "0");
  if (indicator === "Credit") return { minor: magnitude, currency };
  const belowMinorUnit = /[1-9]/.test(dropped);
  return { minor: -(magnitude + (belowMinorUnit ? 1n : 0n)), currency };
}
