/**
 * Balance types as UK Open Banking (Account Information API v3.1, `OBBalanceType1Code`) names
 * them, with the ISO 20022 `BalanceType12Code` each one stands for where ISO has one. A bank may
 * send either spelling; the domain keeps the Open Banking name.
 */
export const BALANCE_TYPES = {
  ClosingAvailable: "CLAV",
  ClosingBooked: "CLBD",
  ClosingCleared: null,
  Expected: "XPCD",
  ForwardAvailable: "FWAV",
  Information: "INFO",
  InterimAvailable: "ITAV",
  InterimBooked: "ITBD",
  InterimCleared: null,
  OpeningAvailable: "OPAV",
  OpeningBooked: "OPBD",
  OpeningCleared: null,
  PreviouslyClosedBooked: "PRCD",
} as const;

export type BalanceType = keyof typeof BALANCE_TYPES;

/**
 * Which balance counts as the customer's balance today, best first: intraday (interim) before
 * end of day (closing) before start of day (opening); within each, available before booked
 * before cleared. Absent on purpose, never today's balance: `ForwardAvailable` (a future
 * balance), `Expected` (what the bank expects, not what is there), `Information` (not a balance
 * of the account) and `PreviouslyClosedBooked` (a past period's).
 */
export const CURRENT_BALANCE_PRECEDENCE = [
  "InterimAvailable",
  "InterimBooked",
  "InterimCleared",
  "ClosingAvailable",
  "ClosingBooked",
  "ClosingCleared",
  "OpeningAvailable",
  "OpeningBooked",
  "OpeningCleared",
] as const satisfies readonly BalanceType[];

/** A balance type that may stand for the customer's balance today. */
export type CurrentBalanceType = (typeof CURRENT_BALANCE_PRECEDENCE)[number];

const ISO_CODES: ReadonlyMap<string, BalanceType> = new Map(
  Object.entries(BALANCE_TYPES).flatMap(([name, code]) =>
    code === null ? [] : [[code, name as BalanceType] as const],
  ),
);

/** The balance type named by an Open Banking name or an ISO 20022 code; `undefined` for anything else. */
export function parseBalanceType(text: string): BalanceType | undefined {
  if (Object.hasOwn(BALANCE_TYPES, text)) return text as BalanceType;
  return ISO_CODES.get(text);
}

/** Whether a balance of this type may stand for today's balance (see `CURRENT_BALANCE_PRECEDENCE`). */
export function isCurrentBalanceType(type: BalanceType): type is CurrentBalanceType {
  return (CURRENT_BALANCE_PRECEDENCE as readonly BalanceType[]).includes(type);
}

/** Rank in `CURRENT_BALANCE_PRECEDENCE` (0 is best); `undefined` for a type that never counts. */
export function currentBalanceRank(type: BalanceType): number | undefined {
  const rank = (CURRENT_BALANCE_PRECEDENCE as readonly BalanceType[]).indexOf(type);
  return rank < 0 ? undefined : rank;
}
