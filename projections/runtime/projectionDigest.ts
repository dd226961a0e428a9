import { createHash } from "node:crypto";
import { sql, type Kysely, type Transaction } from "kysely";
import type { AnyProjection } from "./Projection.ts";
import { registry, type ProjectionSchemas } from "./ProjectionBuilds.ts";

/** A read model's content in one line: equal content gives an equal digest, whatever the row order. */
export interface ProjectionDigest {
  readonly digest: string;
  readonly rows: Readonly<Record<string, number>>;
}

/**
 * A deterministic digest of a build's tables: per table, the md5 of every row's text sorted and
 * hashed together (so physical row order, vacuum and the history of rebuilds do not matter), then
 * SHA-256 over the tables in name order. Row text is rendered with fixed time zone, date style and
 * float settings, so every session computes the same digest.
 */
export async function projectionDigest(
  db: Kysely<unknown> | Transaction<unknown>,
  projection: AnyProjection,
  buildSchema: string,
): Promise<ProjectionDigest> {
  const compute = async (trx: Transaction<unknown>) => {
    await sql`set local timezone = 'UTC'`.execute(trx);
    await sql`set local datestyle = 'ISO, YMD'`.execute(trx);
    await sql`set local extra_float_digits = 1`.execute(trx);
    await sql`set local intervalstyle = 'iso_8601'`.execute(trx);
    const hash = createHash("sha256");
    const rows: Record<string, number> = {};
    for (const table of [...projection.tables].sort()) {
      const result = await sql<{ digest: string; count: string }>`
        select coalesce(md5(string_agg(h, '' order by h)), md5('')) as digest, count(*) as count
        from (select md5(t::text) as h from ${sql.table(`${buildSchema}.${table}`)} t) rows
      `.execute(trx);
      const row = result.rows[0];
      if (row === undefined) throw new Error(`digest of ${buildSchema}.${table} returned nothing`);
      rows[table] = Number(row.count);
      hash.update(`${table}\t${row.count}\t${row.digest}\n`);
    }
    return { digest: hash.digest("hex"), rows };
  };
  return db.isTransaction ? compute(db as Transaction<unknown>) : db.transaction().execute(compute);
}

/** A live build's digest, taken in the same snapshot as its checkpoint. */
export interface LiveBuildDigest extends ProjectionDigest {
  readonly build: string;
  readonly version: number;
  readonly position: string;
}

/**
 * The digest of `projection`'s live build at its checkpoint, both read in one repeatable-read
 * snapshot (its first statement fixes it), so a runner or a swap moving on meanwhile changes
 * nothing; `undefined` when the projection has no live build.
 */
export async function liveBuildDigest(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  projection: AnyProjection,
): Promise<LiveBuildDigest | undefined> {
  return db
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (trx) => {
      const live = await registry(trx, schemas)
        .selectFrom("projection_builds")
        .selectAll()
        .where("name", "=", projection.name)
        .where("status", "=", "live")
        .executeTakeFirst();
      if (live === undefined) return undefined;
      const digest = await projectionDigest(trx, projection, live.build_schema);
      return { build: live.build_schema, version: live.version, position: live.position, ...digest };
    });
}
