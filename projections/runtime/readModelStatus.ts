import type { Kysely } from "kysely";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { lagBehind } from "../../gateways/eventStore/lagBehind.ts";
import type { Position } from "../../gateways/eventStore/Position.ts";
import type { AnyProjection } from "./Projection.ts";
import {
  listBuilds,
  type BuildStatus,
  type ProjectionBuild,
  type ProjectionSchemas,
} from "./ProjectionBuilds.ts";

/** A build and how far its checkpoint is behind the log's head. */
export interface BuildWithLag extends ProjectionBuild {
  /** Events after the checkpoint; null where the store cannot count them (EventStoreDB). */
  readonly lagEvents: number | null;
  readonly lagSeconds: number | null;
}

/**
 * Where a read model stands: `not-built` (no build at all), `building` (no live build yet, one
 * filling), `live`, `rebuilding` (live, and a new build filling beside it), or `failed` (the
 * live build stopped on an error: it still answers, but no longer moves).
 */
export type ReadModelState = "not-built" | "building" | "live" | "rebuilding" | "failed";

/** One read model for an operator: its state, its live build, every build kept, its last error. */
export interface ReadModelStatus {
  readonly name: string;
  /** The version this code builds. */
  readonly version: number;
  readonly status: ReadModelState;
  readonly liveBuild: {
    readonly build: string;
    readonly version: number;
    readonly checkpoint: Position;
    readonly lagEvents: number | null;
    readonly lagSeconds: number | null;
  } | null;
  readonly builds: readonly {
    readonly build: string;
    readonly version: number;
    readonly checkpoint: Position;
    readonly status: BuildStatus;
    readonly error: string | null;
  }[];
  /** The newest error recorded on any of `builds`. */
  readonly lastError: { readonly message: string; readonly at: Date } | null;
}

/**
 * Every build that is not retired (live, building, failed), newest first per projection, with
 * its lag: what `npm run projections -- status` prints and the operations page shows.
 */
export async function currentBuilds(
  db: Kysely<unknown>,
  store: EventStore,
  schemas: ProjectionSchemas,
): Promise<BuildWithLag[]> {
  const builds = (await listBuilds(db, schemas)).filter((build) => build.status !== "retired");
  const rows: BuildWithLag[] = [];
  for (const build of builds) {
    const lag = await lagBehind(store, build.position);
    rows.push({ ...build, lagEvents: lag.events, lagSeconds: lag.seconds });
  }
  return rows;
}

/** `projection`'s read model as its builds (from `currentBuilds`) describe it. */
export function readModelStatus(projection: AnyProjection, builds: readonly BuildWithLag[]): ReadModelStatus {
  const own = builds.filter((build) => build.name === projection.name);
  const live = own.find((build) => build.status === "live");
  const filling = own.some((build) => build.status === "building");
  // A live build's error stands until its checkpoint moves again (a restarted projector).
  const stopped =
    live?.error != null && (live.errorAt === null || live.updatedAt.getTime() <= live.errorAt.getTime());
  const status: ReadModelState =
    live === undefined
      ? filling
        ? "building"
        : "not-built"
      : stopped
        ? "failed"
        : filling
          ? "rebuilding"
          : "live";
  const errors = own
    .filter((build) => build.error !== null)
    .map((build) => ({ message: build.error ?? "", at: build.errorAt ?? build.updatedAt }))
    .sort((a, b) => b.at.getTime() - a.at.getTime());
  return {
    name: projection.name,
    version: projection.version,
    status,
    liveBuild:
      live === undefined
        ? null
        : {
            build: live.buildSchema,
            version: live.version,
            checkpoint: live.position,
            lagEvents: live.lagEvents,
            lagSeconds: live.lagSeconds,
          },
    builds: own.map((build) => ({
      build: build.buildSchema,
      version: build.version,
      checkpoint: build.position,
      status: build.status,
      error: build.error,
    })),
    lastError: errors[0] ?? null,
  };
}
