import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import type pg from "pg";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { AnyProjection } from "./Projection.ts";
import { createBuild, createRegistry, liveBuilds, type ProjectionSchemas } from "./ProjectionBuilds.ts";
import { rebuildProjections } from "./rebuildProjections.ts";
import { runProjections, type ProjectionProgress, type ProjectionTarget } from "./runProjections.ts";
import type { Logger } from "pino";

export interface ProjectorOptions {
  readonly pool: pg.Pool;
  readonly db: Kysely<unknown>;
  readonly store: EventStore;
  readonly schemas: ProjectionSchemas;
  readonly projections: readonly AnyProjection[];
  readonly signal: AbortSignal;
  readonly onProgress?: (progress: ProjectionProgress) => void;
  /** Start-up, standby, swaps, version rebuilds and failures, one line each. */
  readonly logger: Logger;
}

const RETRY_AFTER_ERROR_MS = 2000;

/**
 * The projector role: keeps every projection's live build current. A projection without a build
 * gets its first one (live at once); one whose live build has another version is rebuilt beside
 * it (blue/green) while the old build keeps answering. When a swap retires a build it was
 * following (a CLI rebuild), it starts over on the new builds. A build that fails stays stopped
 * (its error is in the registry) while the others run on; restart the process or rebuild to retry.
 */
export async function runProjector(options: ProjectorOptions): Promise<void> {
  const { logger } = options;
  const failed = new Set<string>();
  const versionRebuilds = new Map<string, Promise<void>>();
  await createRegistry(options.db, options.schemas);
  while (!options.signal.aborted) {
    const round = new AbortController();
    const stopRound = () => round.abort();
    options.signal.addEventListener("abort", stopRound, { once: true });
    try {
      const live = await liveBuilds(options.db, options.schemas);
      const targets: ProjectionTarget[] = [];
      for (const projection of options.projections) {
        const build = live.get(projection.name);
        if (build === undefined) {
          const first = await createBuild(options.db, options.schemas, projection, "live");
          logger.info(`projection ${projection.name}: first build ${first.buildSchema}`);
          targets.push({ projection, buildSchema: first.buildSchema });
        } else if (build.version !== projection.version) {
          if (!versionRebuilds.has(projection.name)) {
            logger.info(
              `projection ${projection.name}: live build is version ${build.version}, this code has ${projection.version}; rebuilding beside it`,
            );
            versionRebuilds.set(projection.name, rebuildBeside(options, projection, round, versionRebuilds));
          }
        } else if (!failed.has(build.buildSchema)) {
          targets.push({ projection, buildSchema: build.buildSchema });
        }
      }
      if (targets.length === 0) {
        await sleep(60_000, undefined, { signal: round.signal }).catch(() => undefined);
        continue;
      }
      const outcomes = await runProjections({
        pool: options.pool,
        db: options.db,
        store: options.store,
        schemas: options.schemas,
        targets,
        expectedStatus: "live",
        signal: round.signal,
        onStandby: (buildSchema) =>
          logger.info(`projection build ${buildSchema}: another runner holds it; standing by`),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      });
      for (const [buildSchema, outcome] of outcomes) {
        if (outcome.outcome === "failed") {
          failed.add(buildSchema);
          logger.error({ err: outcome.error }, outcome.error.message);
        } else if (outcome.outcome === "retired") {
          logger.info(`projection build ${buildSchema} was replaced; following the new live build`);
        }
      }
    } catch (error) {
      logger.error(
        { err: error },
        `projector: ${error instanceof Error ? error.message : String(error)}; retrying`,
      );
      await sleep(RETRY_AFTER_ERROR_MS, undefined, { signal: options.signal }).catch(() => undefined);
    } finally {
      options.signal.removeEventListener("abort", stopRound);
    }
  }
  await Promise.allSettled(versionRebuilds.values());
}

/** Rebuilds `projection` beside its live build (a version change); the round starts over on the new build. */
function rebuildBeside(
  options: ProjectorOptions,
  projection: AnyProjection,
  round: AbortController,
  versionRebuilds: Map<string, Promise<void>>,
): Promise<void> {
  const { logger } = options;
  return rebuildProjections({ ...options, projections: [projection], signal: options.signal }).then(
    (results) => {
      for (const result of results)
        logger[result.outcome === "failed" ? "error" : "info"](
          `projection ${result.projection}: rebuild ${result.outcome}${"error" in result ? `: ${result.error}` : ""}`,
        );
      versionRebuilds.delete(projection.name);
      round.abort(); // start over with the new build
    },
    (error: unknown) => {
      logger.error({ err: error }, `projection ${projection.name}: rebuild failed: ${String(error)}`);
    },
  );
}
