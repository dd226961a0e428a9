import { Kysely, PostgresDialect } from "kysely";
import type { Logger } from "pino";
import { allProjections } from "../../projections/allProjections.ts";
import type { ProjectionProgress } from "../../projections/runtime/runProjections.ts";
import { runProjector } from "../../projections/runtime/runProjector.ts";
import { watchProjections } from "../systemGauges.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The projector: every read model kept up with the log, its progress logged and on `/metrics`. */
export function startProjector(context: SystemContext): void {
  const { schemas, stops } = context;
  const logger = context.logger.child({ role: "projector" });
  // Its own pool: a lease connection per projection and a transaction per projection per batch.
  const projectorPool = context.openPool(2 * allProjections.length + 2);
  const controller = new AbortController();
  const progress = reportProjectionProgress(logger.child({ component: "progress" }), 30_000);
  const running = runProjector({
    pool: projectorPool,
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: projectorPool }) }),
    store: context.store,
    schemas,
    projections: allProjections,
    signal: controller.signal,
    onProgress: progress.update,
    logger: logger.child({ component: "projector" }),
  });
  stops.unshift(async () => {
    progress.stop();
    controller.abort();
    await running;
  });
  watchProjections(context.metrics, {
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: context.pool }) }),
    schemas,
    store: context.unmeasuredStore,
  });
  context.urls.projector = `${allProjections.length} read models in ${schemas.read}`;
}

/**
 * Logs each projection's position, lag and throughput (events read per second) every
 * `everyMs`, while there is progress to report (the same figures are on `/metrics`).
 */
function reportProjectionProgress(
  logger: Logger,
  everyMs: number,
): { update: (progress: ProjectionProgress) => void; stop: () => void } {
  const latest = new Map<string, ProjectionProgress>();
  let readAtLastReport = 0;
  let read = 0;
  let lastSeen = 0;
  const timer = setInterval(() => {
    if (latest.size === 0) return;
    const eventsPerSecond = Math.round(((read - readAtLastReport) * 1000) / everyMs);
    readAtLastReport = read;
    for (const progress of latest.values()) {
      logger.info(
        {
          projection: progress.projection,
          build: progress.buildSchema,
          position: progress.position,
          caughtUp: progress.caughtUp,
          lagSeconds: progress.lagSeconds,
          eventsPerSecond,
        },
        "projection progress",
      );
    }
    latest.clear();
  }, everyMs);
  timer.unref();
  return {
    update: (progress) => {
      latest.set(progress.projection, progress);
      // `read` counts per run of the runner and starts again after a swap.
      if (progress.read < lastSeen) lastSeen = 0;
      read += progress.read - lastSeen;
      lastSeen = progress.read;
    },
    stop: () => clearInterval(timer),
  };
}
