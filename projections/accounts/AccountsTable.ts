import type { ConsentSource } from "../../domain/account/AccountEvent.ts";
import type { MessageClass } from "../../domain/values/MessageClass.ts";

/**
 * On what grounds a class's consent stands as it does: how it was last given or withdrawn, and the
 * inbound SMS (provider id) when a keyword did it — what compliance shows for each SMS sent.
 */
export interface ConsentGround {
  readonly source: ConsentSource | "opened";
  readonly messageId: string | null;
  readonly at: string;
}

/** One row per account: what the query API answers for `GET /accounts/{id}`. */
export interface AccountsTable {
  account_id: string;
  customer_id: string;
  phone: string;
  currency: string;
  time_zone: string;
  consent_service: boolean;
  consent_marketing: boolean;
  consent_grounds: Record<MessageClass, ConsentGround>;
  /** Latest non-stale balance in the account's currency, minor units; null before the first. */
  balance_minor: string | null;
  balance_reference_time: string | null;
  status: "open" | "closed";
  /**
   * The last balance refresh that failed, until a pull succeeds again: its reason code (e.g.
   * `consent_expired`), detail (the bank's Open Banking error codes), whether retrying may help
   * and when; null when the last refresh succeeded or none failed.
   */
  last_refresh_failure: RefreshFailureRow | null;
  /** Rule keys (`ruleId/currency`) currently qualified, with their episode. */
  qualifications: Record<string, number>;
  last_position: string;
}

/** `accounts.last_refresh_failure` (jsonb). */
export interface RefreshFailureRow {
  readonly reason: string;
  readonly detail: string;
  readonly retryable: boolean;
  readonly failedAt: string;
}

export interface AccountsTables {
  accounts: AccountsTable;
}
