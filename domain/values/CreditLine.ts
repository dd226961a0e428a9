import type { Money, MoneyData } from "./Money.ts";

/** Open Banking `OBExternalLimitType1Code`: what kind of credit a line is. */
export const CREDIT_LINE_TYPES = ["Available", "Credit", "Emergency", "Pre-Agreed", "Temporary"] as const;

export type CreditLineType = (typeof CREDIT_LINE_TYPES)[number];

/**
 * A credit line the bank reported with a balance (Open Banking `OBCreditLine`): `included` says
 * whether the balance's amount already counts it. Type and amount are optional in the spec.
 */
export interface CreditLine {
  readonly included: boolean;
  readonly type: CreditLineType | null;
  readonly amount: Money | null;
}

/** A credit line as it travels in events. */
export interface CreditLineData {
  readonly included: boolean;
  readonly type: CreditLineType | null;
  readonly amount: MoneyData | null;
}

export function isCreditLineType(text: string): text is CreditLineType {
  return (CREDIT_LINE_TYPES as readonly string[]).includes(text);
}
