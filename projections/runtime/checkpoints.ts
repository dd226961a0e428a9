import { sql, type Generated, type Kysely } from "kysely";
import { START, type Position } from "../../gateways/eventStore/Position.ts";

/** The table of every projection's checkpoint, in the runtime's schema. */
export interface CheckpointTables {
  projection_checkpoints: {
    name: string;
    version: number;
    position: string;
    updated_at: Generated<Date>;
  };
}

export async function createCheckpointTable(db: Kysely<unknown>, schema: string): Promise<void> {
  await db.schema.createSchema(schema).ifNotExists().execute();
  await db.schema
    .withSchema(schema)
    .createTable("projection_checkpoints")
    .ifNotExists()
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("version", "integer", (col) => col.notNull())
    .addColumn("position", "text", (col) => col.notNull())
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("projection_checkpoints_pkey", ["name", "version"])
    .execute();
}

/** The stored checkpoint of one projection version, created at START when absent. */
export async function readCheckpoint(
  db: Kysely<CheckpointTables>,
  name: string,
  version: number,
): Promise<Position> {
  await db
    .insertInto("projection_checkpoints")
    .values({ name, version, position: START })
    .onConflict((conflict) => conflict.columns(["name", "version"]).doNothing())
    .execute();
  const row = await db
    .selectFrom("projection_checkpoints")
    .select("position")
    .where("name", "=", name)
    .where("version", "=", version)
    .executeTakeFirstOrThrow();
  return row.position as Position;
}
