import { z } from "zod";
import type { AccountCommand } from "../../domain/account/AccountCommand.ts";
import {
  BALANCE_TYPES,
  CURRENT_BALANCE_PRECEDENCE,
  isCurrentBalanceType,
  parseBalanceType,
} from "../../domain/values/BalanceType.ts";
import { CREDIT_LINE_TYPES, type CreditLine } from "../../domain/values/CreditLine.ts";
import { epochMsToInstant, type Instant } from "../../domain/values/Instant.ts";
import { CURRENCY_MINOR_DIGITS, isCurrency, parseMoney } from "../../domain/values/Money.ts";
import type { FieldProblem } from "../../http/ProblemError.ts";

/*
 * A pushed balance, as the command API's POST /accounts/{id}/balances takes it and as every row
 * of a bulk balance file is read: one schema and one parse, so both entries share the same bounds.
 */

export const ACCOUNT_ID = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: "must be 1-64 letters, digits, _ or -" });
export const CURRENCY = z.string().refine(isCurrency, {
  message: `must be one of ${Object.keys(CURRENCY_MINOR_DIGITS).join(", ")}`,
});
export const ISO_TIME = z.iso.datetime({
  offset: true,
  message: "must be an ISO-8601 time with a zone, e.g. 2026-11-24T09:00:00Z",
});

// Every code, so that the OpenAPI document lists them; the current ones are checked after parsing.
const BALANCE_TYPE_CODES = [
  ...Object.keys(BALANCE_TYPES),
  ...Object.values(BALANCE_TYPES).filter((code) => code !== null),
] as [string, ...string[]];
const BALANCE_TYPE = z
  .enum(BALANCE_TYPE_CODES, {
    message: "must be an Open Banking balance type (e.g. InterimAvailable) or its ISO 20022 code (e.g. ITAV)",
  })
  .describe(
    `The Open Banking balance type, or its ISO 20022 code. Only today's balance counts, in this precedence: ${CURRENT_BALANCE_PRECEDENCE.join(
      ", ",
    )}; any other type (ForwardAvailable, Expected, Information, PreviouslyClosedBooked) is refused with 422, reason balance_type_not_current.`,
  );
// Open Banking's OBActiveOrHistoricCurrencyAndAmount: unsigned, up to 5 decimals (the
// currency's minor digits are checked when it is parsed).
const CREDIT_LINE = z
  .object({
    included: z.boolean(),
    type: z.enum(CREDIT_LINE_TYPES).optional(),
    amount: z
      .object({
        amount: z
          .string()
          .regex(/^\d{1,13}(\.\d{1,5})?$/, { message: 'must be an unsigned amount like "500.00"' }),
        currency: CURRENCY,
      })
      .strict()
      .optional(),
  })
  .strict();
export const balanceBody = z
  .object({
    amount: z.string().max(32),
    currency: CURRENCY.describe(
      "Must be the account's currency; a balance in another is refused with 422, reason currency_mismatch (never converted).",
    ),
    balanceType: BALANCE_TYPE,
    creditLineIncluded: z
      .boolean()
      .optional()
      .describe(
        "Whether the amount includes a credit line. Kept for older clients: alone, it stands for one line of unknown type and amount; sent with creditLines, it must say whether any of them is included.",
      ),
    creditLines: z
      .array(CREDIT_LINE)
      .max(20)
      .optional()
      .describe(
        "The credit lines the bank reported with the balance (Open Banking OBCreditLine). Each rule compares the balance without them (the default: amount less the included lines) or with them (amount plus the lines not included); a line without an amount counts for nothing. A line in another currency than the account's is refused with 422, reason currency_mismatch.",
      ),
    referenceTime: ISO_TIME.describe(
      "The bank's time for the balance, with a zone (Z or an offset; zone-less is a 400). It orders observations: one not newer than the last is recorded as stale. At most BALANCE_MAX_FUTURE_SKEW_SECONDS (default 300) after now and BALANCE_MAX_AGE_HOURS (default 168) before now; otherwise 422, reason reference_time_out_of_bounds.",
    ),
    bankReference: z
      .string()
      .min(1)
      .max(128)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .regex(/^[^\u0000-\u001f\u007f]*$/, { message: "must not hold control characters" })
      .optional(),
  })
  .strict();

export type BalanceBody = z.infer<typeof balanceBody>;

/** A pushed balance parsed: the command, or every problem found (fields named under `part`). */
export type ParsedBalancePush =
  | { readonly kind: "command"; readonly command: Extract<AccountCommand, { type: "RecordBalance" }> }
  | { readonly kind: "invalid"; readonly problems: readonly FieldProblem[] }
  | { readonly kind: "not_current"; readonly detail: string };

/**
 * Parses a pushed balance (`body`, as JSON gives it) into the account decider's command at `now`:
 * every bad field at once, then a balance type that is not today's balance. What the domain
 * decides next (currency, reference time bounds, staleness) is the decider's.
 */
export function parseBalancePush(
  body: unknown,
  now: Instant,
  source: "push" = "push",
  part = "body",
): ParsedBalancePush {
  const checked = balanceBody.safeParse(body);
  if (!checked.success) {
    return {
      kind: "invalid",
      problems: checked.error.issues.map((issue) => ({
        field: [part, ...issue.path.map(String)].join("."),
        problem: issue.message,
      })),
    };
  }
  const value = checked.data;
  const problems: FieldProblem[] = [];
  const balance = parseMoney(value.amount, value.currency);
  if ("error" in balance) problems.push({ field: `${part}.amount`, problem: balance.error });
  const creditLines = parseCreditLines(value, problems, part);
  if (problems.length > 0 || "error" in balance) return { kind: "invalid", problems };
  const balanceType = parseBalanceType(value.balanceType);
  if (balanceType === undefined) throw new Error("a balance type passed validation but failed to parse");
  if (!isCurrentBalanceType(balanceType)) {
    return {
      kind: "not_current",
      detail: `a ${balanceType} balance is not today's balance (types that count: interim, closing, opening)`,
    };
  }
  return {
    kind: "command",
    command: {
      type: "RecordBalance",
      data: {
        balance,
        balanceType,
        creditLines,
        // The schema refused zone-less times, so Date.parse reads no local zone here.
        referenceTime: epochMsToInstant(Date.parse(value.referenceTime)),
        source,
        bankReference: value.bankReference ?? null,
        now,
      },
    },
  };
}

function parseCreditLines(body: BalanceBody, problems: FieldProblem[], part: string): CreditLine[] {
  if (body.creditLines === undefined)
    return body.creditLineIncluded === true ? [{ included: true, type: null, amount: null }] : [];
  const lines: CreditLine[] = [];
  body.creditLines.forEach((line, index) => {
    let amount = null;
    if (line.amount !== undefined) {
      const parsed = parseMoney(line.amount.amount, line.amount.currency);
      if ("error" in parsed) {
        problems.push({ field: `${part}.creditLines.${index}.amount.amount`, problem: parsed.error });
        return;
      }
      amount = parsed;
    }
    lines.push({ included: line.included, type: line.type ?? null, amount });
  });
  const anyIncluded = body.creditLines.some((line) => line.included);
  if (body.creditLineIncluded !== undefined && body.creditLineIncluded !== anyIncluded) {
    problems.push({
      field: `${part}.creditLineIncluded`,
      problem: `must be ${anyIncluded} (whether any of creditLines is included), or be left out`,
    });
  }
  return lines;
}
