import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { logHead } from "../../../gateways/eventStore/logHead.ts";
import { parseRequest } from "../../../http/parseRequest.ts";
import { ProblemError } from "../../../http/ProblemError.ts";
import { currentBuilds, readModelStatus } from "../../runtime/readModelStatus.ts";
import type { RebuildJob } from "../../runtime/RebuildJobs.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";

/** The request parts of the read-model routes, shared with the OpenAPI document. */
export const readModelRequests = {
  rebuildParams: z.strictObject({ name: z.string().min(1).max(100) }),
  rebuildBody: z.strictObject({}),
  rebuildStatusParams: z.strictObject({ rebuildId: z.uuid({ message: "must be a rebuild id (a UUID)" }) }),
} as const;

/** Where a client follows a rebuild. */
export function rebuildStatusUrl(rebuildId: string): string {
  return `/operations/rebuilds/${rebuildId}`;
}

/**
 * `GET /operations/read-models`: the log's head and every read model (state, live build and its
 * lag, builds kept, last error). `POST /operations/read-models/{name}/rebuild` (admin): a
 * blue/green rebuild in the background, 202 with where to follow it; 409 while one of that read
 * model runs. `GET /operations/rebuilds/{rebuildId}`: how it stands.
 */
export function readModelRoutes(
  router: Router,
  dependencies: OperationsDependencies,
  guards: OperationsGuards,
): void {
  const { db, store, schemas, projections, rebuilds } = dependencies;

  router.get("/operations/read-models", guards.read, async (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    const builds = await currentBuilds(db, store, schemas);
    ctx.body = {
      eventLogHead: await logHead(store),
      readModels: projections.map((projection) => readModelStatus(projection, builds)),
    };
  });

  router.post("/operations/read-models/:name/rebuild", ...guards.admin, async (ctx: Context) => {
    const { name } = parseRequest("params", readModelRequests.rebuildParams, ctx.params);
    parseRequest("body", readModelRequests.rebuildBody, ctx.request.body ?? {});
    const projection = projections.find((candidate) => candidate.name === name);
    if (projection === undefined) {
      throw new ProblemError(
        "not_found",
        `no read model ${name}; there are: ${projections.map((p) => p.name).join(", ")}`,
      );
    }
    const outcome = await rebuilds.start(projection);
    if ("running" in outcome) {
      throw new ProblemError("refused", `a rebuild of ${name} is already running: ${outcome.running}`, {
        reason: "rebuild_running",
        ...(outcome.rebuildId === null
          ? {}
          : { rebuildId: outcome.rebuildId, statusUrl: rebuildStatusUrl(outcome.rebuildId) }),
      });
    }
    const { rebuildId } = outcome.started;
    ctx.status = 202;
    ctx.set("Location", rebuildStatusUrl(rebuildId));
    ctx.body = { rebuildId, name, statusUrl: rebuildStatusUrl(rebuildId) };
  });

  router.get("/operations/rebuilds/:rebuildId", guards.read, async (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    const { rebuildId } = parseRequest("params", readModelRequests.rebuildStatusParams, ctx.params);
    const job = await rebuilds.find(rebuildId);
    if (job === undefined) throw new ProblemError("not_found", `no rebuild ${rebuildId}`);
    ctx.body = rebuildView(job);
  });
}

function rebuildView(job: RebuildJob) {
  return {
    rebuildId: job.rebuildId,
    name: job.name,
    status: job.status,
    processed: job.processed,
    total: job.total,
    percent: job.percent,
    step: job.step,
    startedAt: job.startedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    error: job.error,
  };
}
