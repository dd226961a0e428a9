import { sql, type Kysely } from "kysely";
import type { AccountEvent } from "../../domain/account/AccountEvent.ts";
import { unreachable } from "../../domain/Decider.ts";
import type { EventWithoutMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { Projection } from "../runtime/Projection.ts";
import { upsertRows } from "../runtime/writeRows.ts";
import type { QualificationsTable, QualificationTables } from "./QualificationsTable.ts";

type QualificationEvent = Extract<AccountEvent, { type: "AccountQualified" | "AccountDisqualified" }>;

const TYPES: readonly QualificationEvent["type"][] = ["AccountQualified", "AccountDisqualified"];

/** What names one qualification episode: both events of an episode carry it. */
type QualificationKey = Pick<QualificationsTable, "account_id" | "rule_id" | "currency" | "episode">;

/** The qualification read model: who qualifies for which rule, since when, in which episode. */
export const qualificationProjection: Projection<QualificationTables> = {
  name: "qualification",
  version: 1,
  eventTypes: new Set(TYPES),
  tables: ["qualifications"],
  async setUp(db, schema) {
    await db.schema
      .withSchema(schema)
      .createTable("qualifications")
      .ifNotExists()
      .addColumn("account_id", "text", (col) => col.notNull())
      .addColumn("rule_id", "text", (col) => col.notNull())
      .addColumn("currency", "text", (col) => col.notNull())
      .addColumn("episode", "integer", (col) => col.notNull())
      .addColumn("status", "text", (col) => col.notNull())
      .addColumn("rule_version", "integer", (col) => col.notNull())
      .addColumn("qualified_at", "text", (col) => col.notNull())
      .addColumn("qualified_balance_minor", "bigint", (col) => col.notNull())
      .addColumn("qualified_position", "text", (col) => col.notNull().unique())
      .addColumn("ended_at", "text")
      .addColumn("ended_balance_minor", "bigint")
      .addColumn("ended_position", "text")
      .addPrimaryKeyConstraint("qualifications_pkey", ["account_id", "rule_id", "currency", "episode"])
      .execute();
    // The key's leading account_id serves the account filter (an account has few episodes); the
    // other filters get an index ending in the keyset column.
    for (const column of ["rule_id", "status"] as const) {
      await db.schema
        .withSchema(schema)
        .createIndex(`qualifications_${column}_position_idx`)
        .ifNotExists()
        .on("qualifications")
        .columns([column, "qualified_position"])
        .execute();
    }
  },
  async foldBatch(
    reader: Kysely<QualificationTables>,
    events: readonly EventWithoutMetadata[],
    schema: string,
  ) {
    const keys = new Map(events.map((recorded) => [keyText(keyOf(recorded)), keyOf(recorded)]));
    // Keys travel as one JSON parameter, like the writes: no parameter limit, one round trip. The
    // accounts again as an array: the planner cannot count a JSON parameter's rows (it guesses
    // 100), and against a table of under some 30,000 rows it then read the whole table for every
    // batch; an array's length it knows, so it looks each account up in the key's index.
    const accountIds = [...new Set([...keys.values()].map((key) => key.account_id))];
    const stored = await reader
      .withSchema(schema)
      .selectFrom("qualifications")
      .selectAll()
      .where(sql<boolean>`account_id = any(${accountIds}::text[])`)
      .where(
        sql<boolean>`(account_id, rule_id, currency, episode) in (
          select * from jsonb_to_recordset(${JSON.stringify([...keys.values()])}::jsonb)
            as keys(account_id text, rule_id text, currency text, episode integer)
        )`,
      )
      .execute();
    const rows = new Map(stored.map((row) => [keyText(row), row]));
    const changed = new Set<string>();
    for (const recorded of events) {
      const key = keyOf(recorded);
      const text = keyText(key);
      rows.set(text, evolveQualificationRow(rows.get(text), key, recorded));
      changed.add(text);
    }
    return upsertRows(
      "qualifications",
      ["account_id", "rule_id", "currency", "episode"],
      [...changed].flatMap((text) => rows.get(text) ?? []),
    );
  },
};

function eventOf(recorded: EventWithoutMetadata): QualificationEvent {
  return { type: recorded.type, data: recorded.data } as unknown as QualificationEvent;
}

function keyOf(recorded: EventWithoutMetadata): QualificationKey {
  const { data } = eventOf(recorded);
  return {
    account_id: recorded.streamId.slice("account-".length),
    rule_id: data.ruleId,
    currency: data.balance.currency,
    episode: data.episode,
  };
}

function keyText(key: QualificationKey): string {
  return JSON.stringify([key.account_id, key.rule_id, key.currency, key.episode]);
}

function describe(key: QualificationKey): string {
  return `account ${key.account_id} rule ${key.rule_id} (${key.currency}) episode ${key.episode}`;
}

/** The episode's row after one event; an event that contradicts the row is an error. */
function evolveQualificationRow(
  row: QualificationsTable | undefined,
  key: QualificationKey,
  recorded: EventWithoutMetadata,
): QualificationsTable {
  const event = eventOf(recorded);
  switch (event.type) {
    case "AccountQualified":
      if (row !== undefined) {
        throw new Error(
          `${describe(key)} qualified twice, at ${row.qualified_position} and ${recorded.position}`,
        );
      }
      return {
        ...key,
        status: "active",
        rule_version: event.data.ruleVersion,
        qualified_at: event.data.at,
        qualified_balance_minor: event.data.balance.minor,
        qualified_position: recorded.position,
        ended_at: null,
        ended_balance_minor: null,
        ended_position: null,
      };
    case "AccountDisqualified":
      if (row === undefined) throw new Error(`${describe(key)} ended but never qualified`);
      if (row.status === "ended") {
        throw new Error(
          `${describe(key)} ended twice, at ${row.ended_position ?? "?"} and ${recorded.position}`,
        );
      }
      return {
        ...row,
        status: "ended",
        ended_at: event.data.at,
        ended_balance_minor: event.data.balance.minor,
        ended_position: recorded.position,
      };
    default:
      return unreachable(event.type);
  }
}
