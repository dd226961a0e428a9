import type { Kysely } from "kysely";
import { allProjections } from "../../projections/allProjections.ts";
import type { ProjectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { liveBuildDigest } from "../../projections/runtime/projectionDigest.ts";

/** A live read model's digest at its checkpoint, as `npm run projections -- verify` computes it. */
export interface LiveReadModelDigest {
  readonly projection: string;
  readonly build: string;
  readonly position: string;
  readonly digest: string;
  readonly rows: Readonly<Record<string, number>>;
}

/**
 * Every live read model's digest, each in one repeatable-read snapshot with its checkpoint (as
 * `verify` does), the four side by side. The drill takes these itself, beside the recovery's own
 * steps, so that they cost it no time: each snapshot is taken by its first statement, within
 * milliseconds, and holds however long the digest then takes — so a projector or a swap that
 * moves on meanwhile changes nothing here (and a build that moved first shows in `build` and
 * `position`).
 */
export async function liveReadModelDigests(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
): Promise<LiveReadModelDigest[]> {
  return Promise.all(
    allProjections.map(async (projection) => {
      const live = await liveBuildDigest(db, schemas, projection);
      if (live === undefined) throw new Error(`projection ${projection.name} has no live build`);
      return {
        projection: projection.name,
        build: live.build,
        position: live.position,
        digest: live.digest,
        rows: live.rows,
      };
    }),
  );
}
