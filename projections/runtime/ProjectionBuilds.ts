import { sql, type Generated, type Kysely, type Transaction } from "kysely";
import { START, type Position } from "../../gateways/eventStore/Position.ts";
import type { AnyProjection } from "./Projection.ts";

/**
 * Where a build of a projection stands. `building`: filling beside the live build; `live`: the
 * build the read schema's views point at (one per projection); `retired`: replaced by a newer
 * build, its schema dropped; `failed`: a build that stopped on an event or failed verification.
 */
export type BuildStatus = "building" | "live" | "retired" | "failed";

/** The registry of builds: one row per build, in the runtime schema. */
export interface ProjectionBuildsTable {
  /** The build's own schema: its tables, and its identity (lease and checkpoint key). */
  build_schema: string;
  name: string;
  version: number;
  status: BuildStatus;
  /** Checkpoint: every event up to here (inclusive) has been applied to the build's tables. */
  position: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  live_since: Date | null;
  error: string | null;
  /** When `error` was recorded (`updated_at` moves on with the checkpoint, this does not). */
  error_at: Date | null;
}

export interface RuntimeTables {
  projection_builds: ProjectionBuildsTable;
}

/** A build as the runtime and CLI see it. */
export interface ProjectionBuild {
  readonly buildSchema: string;
  readonly name: string;
  readonly version: number;
  readonly status: BuildStatus;
  readonly position: Position;
  readonly updatedAt: Date;
  readonly liveSince: Date | null;
  readonly error: string | null;
  readonly errorAt: Date | null;
}

/**
 * Where the projection runtime keeps its state: the registry (`runtime`), the views the query API
 * reads (`read`), and the prefix of every build's schema.
 */
export interface ProjectionSchemas {
  readonly runtime: string;
  readonly read: string;
  readonly buildPrefix: string;
}

/** Schema names from one deployment prefix: `<p>_projections`, `<p>_read`, `<p>_rm_<name>_v<version>_<n>`. */
export function projectionSchemas(prefix: string): ProjectionSchemas {
  return { runtime: `${prefix}_projections`, read: `${prefix}_read`, buildPrefix: `${prefix}_rm` };
}

export function registry(
  db: Kysely<unknown> | Transaction<unknown>,
  schemas: ProjectionSchemas,
): Kysely<RuntimeTables> {
  return db.withSchema(schemas.runtime) as unknown as Kysely<RuntimeTables>;
}

/** Creates the registry and the read schema when missing (idempotent, safe to race). */
export async function createRegistry(db: Kysely<unknown>, schemas: ProjectionSchemas): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // Two processes starting at once would both try to create the same objects.
    await sql`select pg_advisory_xact_lock(hashtext(${`${schemas.runtime}:registry`}))`.execute(trx);
    await trx.schema.createSchema(schemas.runtime).ifNotExists().execute();
    await trx.schema.createSchema(schemas.read).ifNotExists().execute();
    await trx.schema
      .withSchema(schemas.runtime)
      .createTable("projection_builds")
      .ifNotExists()
      .addColumn("build_schema", "text", (col) => col.primaryKey())
      .addColumn("name", "text", (col) => col.notNull())
      .addColumn("version", "integer", (col) => col.notNull())
      .addColumn("status", "text", (col) =>
        col.notNull().check(sql`status in ('building', 'live', 'retired', 'failed')`),
      )
      .addColumn("position", "text", (col) => col.notNull())
      .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
      .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
      .addColumn("live_since", "timestamptz")
      .addColumn("error", "text")
      .execute();
    // Registries made before errors were timed: their errors count as recorded when last updated.
    await sql`alter table ${sql.table(`${schemas.runtime}.projection_builds`)} add column if not exists error_at timestamptz`.execute(
      trx,
    );
    await sql`update ${sql.table(`${schemas.runtime}.projection_builds`)} set error_at = updated_at
      where error is not null and error_at is null`.execute(trx);
    await trx.schema
      .withSchema(schemas.runtime)
      .createIndex("projection_builds_one_live")
      .ifNotExists()
      .on("projection_builds")
      .column("name")
      .unique()
      .where(sql.ref("status"), "=", "live")
      .execute();
  });
}

/** Every build, newest first per projection. */
export async function listBuilds(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
): Promise<ProjectionBuild[]> {
  const rows = await registry(db, schemas)
    .selectFrom("projection_builds")
    .selectAll()
    .orderBy("name")
    .orderBy("created_at", "desc")
    .execute();
  return rows.map(buildOf);
}

/** The live build of each projection that has one. */
export async function liveBuilds(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
): Promise<Map<string, ProjectionBuild>> {
  const rows = await registry(db, schemas)
    .selectFrom("projection_builds")
    .selectAll()
    .where("status", "=", "live")
    .execute();
  return new Map(rows.map((row) => [row.name, buildOf(row)]));
}

/**
 * Creates a new build of `projection`: its schema and empty tables, registered at START with
 * `status`. A first build goes `live` at once (its views are created too); later ones are
 * `building` until a swap.
 */
export async function createBuild(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  projection: AnyProjection,
  status: "building" | "live",
): Promise<ProjectionBuild> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`${schemas.runtime}:${projection.name}`}))`.execute(
      trx,
    );
    const builds = registry(trx, schemas);
    if (status === "live") {
      const live = await builds
        .selectFrom("projection_builds")
        .selectAll()
        .where("name", "=", projection.name)
        .where("status", "=", "live")
        .executeTakeFirst();
      if (live !== undefined) return buildOf(live);
    }
    // Numbered after the highest number this projection's builds have used (not their count: a
    // row removed by hand would hand out a live build's name, and its schema is dropped next).
    const { highest } = await builds
      .selectFrom("projection_builds")
      .select(
        sql<string>`coalesce(max((regexp_match(build_schema, '_([0-9]+)$'))[1]::bigint), 0)`.as("highest"),
      )
      .where("name", "=", projection.name)
      .executeTakeFirstOrThrow();
    const buildSchema = `${schemas.buildPrefix}_${projection.name}_v${projection.version}_${Number(highest) + 1}`;
    await trx.schema.dropSchema(buildSchema).ifExists().cascade().execute();
    await trx.schema.createSchema(buildSchema).execute();
    await projection.setUp(trx, buildSchema);
    const row = await builds
      .insertInto("projection_builds")
      .values({
        build_schema: buildSchema,
        name: projection.name,
        version: projection.version,
        status,
        position: START,
        live_since: status === "live" ? new Date() : null,
        error: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (status === "live") await pointViews(trx, schemas, projection, buildSchema);
    return buildOf(row);
  });
}

/** Re-points the read schema's views of `projection` at `buildSchema` (inside the caller's transaction). */
export async function pointViews(
  trx: Transaction<unknown>,
  schemas: ProjectionSchemas,
  projection: AnyProjection,
  buildSchema: string,
): Promise<void> {
  for (const table of projection.tables) {
    // Drop and create rather than replace: a new version may change the columns.
    await trx.schema.withSchema(schemas.read).dropView(table).ifExists().execute();
    await trx.schema
      .withSchema(schemas.read)
      .createView(table)
      .as(trx.selectFrom(sql.table(`${buildSchema}.${table}`).as("t")).selectAll())
      .execute();
  }
}

/**
 * Drops the schemas of failed builds, which a failure leaves behind for inspection (a full copy
 * of a read model each). Their registry rows stay, saying so: build names count the rows, so a
 * deleted row could hand a later build the name of a live one. Each drop holds the projection's
 * lock, as builds and swaps do. Returns the schemas dropped.
 */
export async function dropFailedBuilds(db: Kysely<unknown>, schemas: ProjectionSchemas): Promise<string[]> {
  const failed = await registry(db, schemas)
    .selectFrom("projection_builds")
    .select(["build_schema", "name"])
    .where("status", "=", "failed")
    .where(sql<boolean>`exists (select from pg_namespace where nspname = build_schema)`)
    .orderBy("build_schema")
    .execute();
  const dropped: string[] = [];
  for (const build of failed) {
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`${schemas.runtime}:${build.name}`}))`.execute(trx);
      await trx.schema.dropSchema(build.build_schema).ifExists().cascade().execute();
      await registry(trx, schemas)
        .updateTable("projection_builds")
        .set({
          error: sql<string>`coalesce(error, '') || ' (schema dropped by prune)'`,
          updated_at: sql<Date>`now()`,
        })
        .where("build_schema", "=", build.build_schema)
        .where("status", "=", "failed")
        .execute();
    });
    dropped.push(build.build_schema);
  }
  return dropped;
}

/** Records that a build stopped; a live build stays live (stale) so the API keeps answering. */
export async function recordBuildFailure(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  buildSchema: string,
  error: string,
): Promise<void> {
  await registry(db, schemas)
    .updateTable("projection_builds")
    .set({
      status: sql<BuildStatus>`case when status = 'building' then 'failed' else status end`,
      error,
      error_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
    })
    .where("build_schema", "=", buildSchema)
    .execute();
}

function buildOf(row: {
  build_schema: string;
  name: string;
  version: number;
  status: BuildStatus;
  position: string;
  updated_at: Date;
  live_since: Date | null;
  error: string | null;
  error_at: Date | null;
}): ProjectionBuild {
  return {
    buildSchema: row.build_schema,
    name: row.name,
    version: row.version,
    status: row.status,
    position: row.position as Position,
    updatedAt: row.updated_at,
    liveSince: row.live_since,
    error: row.error,
    errorAt: row.error_at,
  };
}
