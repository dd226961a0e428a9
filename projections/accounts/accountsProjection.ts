import { sql, type Kysely } from "kysely";
import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import { ruleKey } from "../../domain/account/accountDecider.ts";
import { unreachable } from "../../domain/Decider.ts";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import { upsertRows } from "../runtime/writeRows.ts";
import type { AccountsTable, AccountsTables, RefreshFailureRow } from "./AccountsTable.ts";

const TYPES: readonly AccountEvent["type"][] = [
  "AccountOpened",
  "ContactChanged",
  "ConsentChanged",
  "BalanceObserved",
  "BalanceRefreshFailed",
  "AccountQualified",
  "AccountDisqualified",
  "AccountClosed",
];

/** An account row as stored: bigint as text, jsonb as an object. */
type AccountRow = Omit<AccountsTable, "qualifications"> & { qualifications: Record<string, number> };

/**
 * The accounts read model: contact, consents, latest balance, current qualifications, and the
 * last failed balance refresh (until a pull succeeds). Version 3 added the refresh failure,
 * version 4 the index that finds accounts by phone number.
 */
export const accountsProjection: Projection<AccountsTables> = {
  name: "accounts",
  version: 4,
  eventTypes: new Set(TYPES),
  tables: ["accounts"],
  async setUp(db, schema) {
    await db.schema
      .withSchema(schema)
      .createTable("accounts")
      .ifNotExists()
      .addColumn("account_id", "text", (col) => col.primaryKey())
      .addColumn("customer_id", "text", (col) => col.notNull())
      .addColumn("phone", "text", (col) => col.notNull())
      .addColumn("currency", "text", (col) => col.notNull())
      .addColumn("time_zone", "text", (col) => col.notNull())
      .addColumn("consent_service", "boolean", (col) => col.notNull())
      .addColumn("consent_marketing", "boolean", (col) => col.notNull())
      .addColumn("consent_grounds", "jsonb", (col) => col.notNull())
      .addColumn("balance_minor", "bigint")
      .addColumn("balance_reference_time", "text")
      .addColumn("status", "text", (col) => col.notNull())
      .addColumn("qualifications", "jsonb", (col) => col.notNull())
      .addColumn("last_refresh_failure", "jsonb")
      .addColumn("last_position", "text", (col) => col.notNull())
      // Every balance rewrites its account's row: room on the page lets PostgreSQL update in
      // place (HOT), without a new primary-key entry per update.
      .modifyEnd(sql`with (fillfactor = 50)`)
      .execute();
    await db.schema
      .withSchema(schema)
      .createIndex("accounts_phone_idx")
      .ifNotExists()
      .on("accounts")
      .column("phone")
      .execute();
  },
  async foldBatch(reader: Kysely<AccountsTables>, events: readonly EventWithoutMetadata[], schema: string) {
    const ids = [...new Set(events.map(accountIdOf))];
    const stored = await reader
      .withSchema(schema)
      .selectFrom("accounts")
      .selectAll()
      .where("account_id", "=", (eb) => eb.fn.any(eb.val(ids))) // one array parameter, not one per id
      .execute();
    const rows = new Map<string, AccountRow>(stored.map((row) => [row.account_id, row]));
    const changed = new Set<string>();
    for (const recorded of events) {
      const accountId = accountIdOf(recorded);
      const next = evolveAccountRow(rows.get(accountId), accountId, recorded);
      if (next === undefined) continue;
      rows.set(accountId, next);
      changed.add(accountId);
    }
    return upsertRows(
      "accounts",
      ["account_id"],
      [...changed].flatMap((id) => rows.get(id) ?? []),
    );
  },
};

function accountIdOf(recorded: EventWithoutMetadata): string {
  return recorded.streamId.slice("account-".length);
}

/** The row after one event, or undefined when the event changes nothing. */
function evolveAccountRow(
  row: AccountRow | undefined,
  accountId: string,
  recorded: EventWithoutMetadata,
): AccountRow | undefined {
  const event = { type: recorded.type, data: recorded.data } as unknown as AccountEvent;
  if (event.type === "AccountOpened") return openedAccountRow(accountId, event.data, recorded.position);
  if (row === undefined) throw new Error(`account ${accountId} has a ${event.type} but was never opened`);
  // One new row per event (a rebuild folds hundreds of thousands): the change and the position together.
  const last_position = recorded.position;
  switch (event.type) {
    case "ContactChanged":
      return { ...row, last_position, phone: event.data.phone };
    case "ConsentChanged": {
      const { messageClass, granted, source, messageId, at } = event.data;
      const consent_grounds = {
        ...row.consent_grounds,
        [messageClass]: { source, messageId: messageId ?? null, at },
      };
      return messageClass === "service"
        ? { ...row, last_position, consent_grounds, consent_service: granted }
        : { ...row, last_position, consent_grounds, consent_marketing: granted };
    }
    case "BalanceObserved":
      return observedBalanceRow(row, event.data, last_position);
    case "BalanceRefreshFailed":
      return { ...row, last_position, last_refresh_failure: refreshFailureOf(event.data) };
    case "AccountQualified":
    case "AccountDisqualified": {
      const key = ruleKey(event.data.ruleId, event.data.balance.currency);
      const others = Object.fromEntries(
        Object.entries(row.qualifications).filter(([other]) => other !== key),
      );
      return {
        ...row,
        last_position,
        qualifications: event.type === "AccountQualified" ? { ...others, [key]: event.data.episode } : others,
      };
    }
    case "AccountClosed":
      return { ...row, last_position, status: "closed" };
    case "BalanceRefreshRequested":
    case "SmsKeywordReceived":
      return undefined;
    default:
      return unreachable(event);
  }
}

/** The row of a just-opened account: consents as opened, no balance, no qualification. */
function openedAccountRow(
  accountId: string,
  data: Extract<AccountEvent, { type: "AccountOpened" }>["data"],
  last_position: AccountRow["last_position"],
): AccountRow {
  return {
    account_id: accountId,
    customer_id: data.customerId,
    phone: data.phone,
    currency: data.currency,
    time_zone: data.timeZone,
    consent_service: data.consents.service,
    consent_marketing: data.consents.marketing,
    consent_grounds: {
      service: { source: "opened", messageId: null, at: data.openedAt },
      marketing: { source: "opened", messageId: null, at: data.openedAt },
    },
    balance_minor: null,
    balance_reference_time: null,
    status: "open",
    qualifications: {},
    last_refresh_failure: null,
    last_position,
  };
}

/**
 * The row after an observed balance, or undefined when it changes nothing: a stale balance or one
 * in another currency is not shown, but a pull that succeeded still clears the refresh failure.
 */
function observedBalanceRow(
  row: AccountRow,
  data: Extract<AccountEvent, { type: "BalanceObserved" }>["data"],
  last_position: AccountRow["last_position"],
): AccountRow | undefined {
  // A pull that succeeded, stale or not, means the bank answers again.
  const failure = data.source === "pull" ? null : row.last_refresh_failure;
  if (data.stale || data.balance.currency !== row.currency) {
    return failure === row.last_refresh_failure
      ? undefined
      : { ...row, last_position, last_refresh_failure: failure };
  }
  return {
    ...row,
    last_position,
    balance_minor: data.balance.minor,
    balance_reference_time: data.referenceTime,
    last_refresh_failure: failure,
  };
}

/**
 * The banking gateway writes `reason` as `<code>: <detail>` (the codes: `RefreshFailureReason`);
 * a reason of another form (written before the codes) is shown whole as the detail of `unknown`.
 */
function refreshFailureOf(data: {
  readonly reason: string;
  readonly retryable: boolean;
  readonly failedAt: string;
}): RefreshFailureRow {
  const match = /^([a-z_]+): ([\s\S]*)$/.exec(data.reason);
  return {
    reason: match?.[1] ?? "unknown",
    detail: match?.[2] ?? data.reason,
    retryable: data.retryable,
    failedAt: data.failedAt,
  };
}
