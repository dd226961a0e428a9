import { sql, type Transaction } from "kysely";
import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import { ruleKey } from "../../domain/account/accountDecider.ts";
import { unreachable } from "../../domain/Decider.ts";
import type { RecordedEvent } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import type { AccountsTables } from "./AccountsTable.ts";

const TYPES: readonly AccountEvent["type"][] = [
  "AccountOpened",
  "ContactChanged",
  "ConsentChanged",
  "BalanceObserved",
  "AccountQualified",
  "AccountDisqualified",
  "AccountClosed",
];

/** The accounts read model: contact, consents, latest balance and current qualifications. */
export const accountsProjection: Projection<AccountsTables> = {
  name: "accounts",
  version: 1,
  eventTypes: new Set(TYPES),
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
      .addColumn("balance_minor", "bigint")
      .addColumn("balance_reference_time", "text")
      .addColumn("status", "text", (col) => col.notNull())
      .addColumn("qualifications", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn("last_position", "text", (col) => col.notNull())
      .execute();
  },
  async apply(trx: Transaction<AccountsTables>, recorded: RecordedEvent, schema: string) {
    const event = { type: recorded.type, data: recorded.data } as unknown as AccountEvent;
    const accounts = trx.withSchema(schema);
    const accountId = recorded.streamId.slice("account-".length);
    const touch = { last_position: recorded.position };
    switch (event.type) {
      case "AccountOpened":
        await accounts
          .insertInto("accounts")
          .values({
            account_id: accountId,
            customer_id: event.data.customerId,
            phone: event.data.phone,
            currency: event.data.currency,
            time_zone: event.data.timeZone,
            consent_service: event.data.consents.service,
            consent_marketing: event.data.consents.marketing,
            balance_minor: null,
            balance_reference_time: null,
            status: "open",
            last_position: recorded.position,
          })
          .execute();
        return;
      case "ContactChanged":
        await accounts
          .updateTable("accounts")
          .set({ phone: event.data.phone, ...touch })
          .where("account_id", "=", accountId)
          .execute();
        return;
      case "ConsentChanged":
        await accounts
          .updateTable("accounts")
          .set({
            [event.data.messageClass === "service" ? "consent_service" : "consent_marketing"]:
              event.data.granted,
            ...touch,
          })
          .where("account_id", "=", accountId)
          .execute();
        return;
      case "BalanceObserved":
        if (event.data.stale) return;
        await accounts
          .updateTable("accounts")
          .set({
            balance_minor: event.data.balance.minor,
            balance_reference_time: event.data.referenceTime,
            ...touch,
          })
          .where("account_id", "=", accountId)
          .where("currency", "=", event.data.balance.currency)
          .execute();
        return;
      case "AccountQualified":
      case "AccountDisqualified": {
        const key = ruleKey(event.data.ruleId, event.data.balance.currency);
        await accounts
          .updateTable("accounts")
          .set({
            qualifications:
              event.type === "AccountQualified"
                ? sql`qualifications || jsonb_build_object(${key}::text, ${event.data.episode}::int)`
                : sql`qualifications - ${key}::text`,
            ...touch,
          })
          .where("account_id", "=", accountId)
          .execute();
        return;
      }
      case "AccountClosed":
        await accounts
          .updateTable("accounts")
          .set({ status: "closed", ...touch })
          .where("account_id", "=", accountId)
          .execute();
        return;
      case "BalanceRefreshRequested":
      case "BalanceRefreshFailed":
        return;
      default:
        unreachable(event);
    }
  },
};
