/** ISO 4217 currencies Tidemark handles, with their minor-unit digits. */
export const CURRENCY_MINOR_DIGITS = {
  GBP: 2,
  EUR: 2,
  USD: 2,
  CHF: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  JPY: 0,
} as const;

export type Currency = keyof typeof CURRENCY_MINOR_DIGITS;

/** An amount of money: integer minor units (never a float) in one currency. May be negative. */
export interface Money {
  readonly minor: bigint;
  readonly currency: Currency;
}

export function isCurrency(code: string): code is Currency {
  return Object.hasOwn(CURRENCY_MINOR_DIGITS, code);
}

/**
 * Parses a decimal string as Open Banking writes amounts ("99.50", "-12.3", "1000") into minor
 * units. More fraction digits than the currency has is an error, never a rounding.
 */
export function parseMoney(decimal: string, currency: Currency): Money | { readonly error: string } {
  const digits = CURRENCY_MINOR_DIGITS[currency];
  const match = /^(-?)(\d{1,15})(?:\.(\d+))?$/.exec(decimal);
  if (match === null) return { error: `"${decimal}" is not a decimal amount like "99.50"` };
  const [, sign = "", whole = "0", fraction = ""] = match;
  if (fraction.length > digits) {
    return { error: `${currency} has ${digits} minor digits; "${decimal}" has ${fraction.length}` };
  }
  const minor = BigInt(whole) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, "0") || "0");
  return { minor: sign === "-" ? -minor : minor, currency };
}

/** The decimal string of an amount ("-0.05", "5000.00"). */
export function formatMoney(money: Money): string {
  const digits = CURRENCY_MINOR_DIGITS[money.currency];
  const negative = money.minor < 0n;
  const text = (negative ? -money.minor : money.minor).toString().padStart(digits + 1, "0");
  const whole = digits === 0 ? text : text.slice(0, -digits);
  const fraction = digits === 0 ? "" : `.${text.slice(-digits)}`;
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** Money as it travels in events: minor units as a string, since JSON has no bigint. */
export interface MoneyData {
  readonly minor: string;
  readonly currency: Currency;
}

export function moneyToData(money: Money): MoneyData {
  return { minor: money.minor.toString(), currency: money.currency };
}

export function moneyFromData(data: MoneyData): Money {
  return { minor: BigInt(data.minor), currency: data.currency };
}
