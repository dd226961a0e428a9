import type { Kysely } from "kysely";
import type pg from "pg";
import { formatMoney, isCurrency } from "../../domain/values/Money.ts";
import type { AccountsTable, AccountsTables, ConsentGround, RefreshFailureRow } from "./AccountsTable.ts";

/** An account as the query API answers it (phone masked unless the caller may see PII). */
export interface AccountView {
  readonly accountId: string;
  readonly customerId: string;
  readonly phone: string;
  readonly currency: string;
  readonly timeZone: string;
  readonly consents: { readonly service: boolean; readonly marketing: boolean };
  /** Per class, how its consent was last given or withdrawn (source, inbound message id, time). */
  readonly consentGrounds: { readonly service: ConsentGround; readonly marketing: ConsentGround };
  readonly balance: {
    readonly amount: string;
    readonly currency: string;
    readonly referenceTime: string;
  } | null;
  readonly status: "open" | "closed";
  /** The last failed balance refresh, until a pull succeeds (e.g. reason `consent_expired`). */
  readonly lastRefreshFailure: RefreshFailureRow | null;
  readonly qualifications: Readonly<Record<string, number>>;
  readonly position: string;
}

/** One account by id, or undefined. `db` may be a transaction: the caller owns it. */
export async function findAccount(
  db: Kysely<AccountsTables>,
  schema: string,
  accountId: string,
  options: { readonly showPhone: boolean },
): Promise<AccountView | undefined> {
  const row = await db
    .withSchema(schema)
    .selectFrom("accounts")
    .selectAll()
    .where("account_id", "=", accountId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return accountView(row, options);
}

/**
 * The accounts with this phone number (E.164, as stored), up to 50, oldest id first. Finding
 * someone by phone is reading personal data: the route asks for `pii:read` before it calls this.
 */
export async function findAccountsByPhone(
  db: Kysely<AccountsTables>,
  schema: string,
  phone: string,
): Promise<AccountView[]> {
  const rows = await db
    .withSchema(schema)
    .selectFrom("accounts")
    .selectAll()
    .where("phone", "=", phone)
    .orderBy("account_id")
    .limit(50)
    .execute();
  return rows.map((row) => accountView(row, { showPhone: true }));
}

function accountView(row: AccountsTable, options: { readonly showPhone: boolean }): AccountView {
  const currency = isCurrency(row.currency) ? row.currency : undefined;
  return {
    accountId: row.account_id,
    customerId: row.customer_id,
    phone: options.showPhone ? row.phone : maskPhone(row.phone),
    currency: row.currency,
    timeZone: row.time_zone,
    consents: { service: row.consent_service, marketing: row.consent_marketing },
    consentGrounds: row.consent_grounds,
    balance:
      row.balance_minor === null || row.balance_reference_time === null || currency === undefined
        ? null
        : {
            amount: formatMoney({ minor: BigInt(row.balance_minor), currency }),
            currency,
            referenceTime: row.balance_reference_time,
          },
    status: row.status,
    lastRefreshFailure: row.last_refresh_failure,
    qualifications: row.qualifications,
    position: row.last_position,
  };
}

/** "+447911123456" → "+44•••••••456": enough to recognise, not to dial. */
export function maskPhone(phone: string): string {
  return phone.length <= 6
    ? "•".repeat(phone.length)
    : `${phone.slice(0, 3)}${"•".repeat(phone.length - 6)}${phone.slice(-3)}`;
}

/**
 * Up to `limit` accounts open in the read model that `table` (a table keyed by `account_id`, e.g.
 * the refresh schedule) does not hold yet, the first after `after` in account id order.
 * `accountsView` is the read schema's view (`"<prefix>_read".accounts`).
 */
export async function openAccountsMissingFrom(
  pool: pg.Pool,
  accountsView: string,
  table: string,
  limit: number,
  after = "",
): Promise<string[]> {
  // In account id order from `after`: each page starts where the last ended (the key's index),
  // instead of passing again over every account the pages before it found.
  const { rows } = await pool.query<{ account_id: string }>(
    `select a.account_id from ${accountsView} a
       where a.account_id > $2 and a.status = 'open'
         and not exists (select 1 from ${table} s where s.account_id = a.account_id)
       order by a.account_id
       limit $1`,
    [limit, after],
  );
  return rows.map((row) => row.account_id);
}

/** The accounts `table` (keyed by `account_id`) holds that the read model no longer has open. */
export async function accountsNoLongerOpenIn(
  pool: pg.Pool,
  accountsView: string,
  table: string,
): Promise<string[]> {
  const { rows } = await pool.query<{ account_id: string }>(
    `select s.account_id from ${table} s join ${accountsView} a on a.account_id = s.account_id
       where a.status <> 'open'`,
  );
  return rows.map((row) => row.account_id);
}

/** The ids of the open accounts whose phone is `phone` (an inbound SMS's sender), in `readSchema`. */
export async function findOpenAccountsByPhone(
  pool: pg.Pool,
  readSchema: string,
  phone: string,
): Promise<string[]> {
  const { rows } = await pool.query<{ account_id: string }>(
    `select account_id from "${readSchema}".accounts where phone = $1 and status = 'open'`,
    [phone],
  );
  return rows.map((row) => row.account_id);
}
