import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { ApiCaller } from "../../../http/ApiKeys.ts";
import { parseRequest } from "../../../http/parseRequest.ts";
import { ProblemError } from "../../../http/ProblemError.ts";
import type { BacktestJob } from "../../backtest/BacktestJobs.ts";
import { backtestCsv } from "../../backtest/runBacktest.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";

const instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/, {
    message: "must be a date (2026-11-01) or an ISO time with a zone",
  })
  .transform((text) => Date.parse(/T/.test(text) ? text : `${text}T00:00:00Z`));

/** The request parts of the backtest routes, shared with the OpenAPI document. */
export const backtestRequests = {
  startBody: z.strictObject({
    document: z.unknown().refine((value) => value !== undefined, { message: "is required" }),
    from: instant,
    to: instant,
    comment: z.string().max(1000).default(""),
  }),
  backtestParams: z.strictObject({ backtestId: z.uuid({ message: "must be a backtest id (a UUID)" }) }),
  backtestQuery: z.strictObject({ format: z.enum(["json", "csv"]).default("json") }),
} as const;

/** Where a client follows a backtest. */
export function backtestUrl(backtestId: string): string {
  return `/rules/backtests/${backtestId}`;
}

/**
 * Backtests of a candidate rule set over the recorded history. `POST /rules/backtests` (scope
 * `rules:write`): validated as a published rule set is, then run in the background: 202 with
 * where to follow it. `GET /rules/backtests/{id}` (`queries:read`): its progress, then its
 * report (`?format=csv`: the per-day rows as CSV). `GET /rules/backtests`: the latest 50.
 */
export function backtestRoutes(
  router: Router,
  dependencies: OperationsDependencies,
  guards: OperationsGuards,
): void {
  const backtests = dependencies.backtests;
  if (backtests === undefined) return;

  router.post("/rules/backtests", ...guards.rulesWrite, async (ctx: Context) => {
    const body = parseRequest("body", backtestRequests.startBody, ctx.request.body);
    if (Number.isNaN(body.from) || Number.isNaN(body.to) || body.to <= body.from) {
      throw new ProblemError("invalid_request", "to must be a valid time after from", {
        errors: [{ field: "body.to", problem: "must be after from" }],
      });
    }
    const candidate = backtests.parseCandidate(body.document);
    const started = await backtests.jobs.start({
      candidate: candidate.document,
      rules: candidate.rules,
      fromMs: body.from,
      toMs: body.to,
      requestedBy: (ctx.state.caller as ApiCaller).name,
      comment: body.comment,
    });
    if ("running" in started) {
      throw new ProblemError(
        "refused",
        `backtest ${started.running} is still running here; follow it, then start another`,
        {
          reason: "backtest_running",
          backtestId: started.running,
        },
      );
    }
    const job = started;
    ctx.status = 202;
    ctx.set("Location", backtestUrl(job.backtestId));
    ctx.body = jobView(job);
  });

  router.get("/rules/backtests", guards.read, async (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    ctx.body = { backtests: (await backtests.jobs.list(50)).map(jobView) };
  });

  router.get("/rules/backtests/:backtestId", guards.read, async (ctx: Context) => {
    const { backtestId } = parseRequest("params", backtestRequests.backtestParams, ctx.params);
    const { format } = parseRequest("query", backtestRequests.backtestQuery, ctx.query);
    const job = await backtests.jobs.find(backtestId);
    if (job === undefined) throw new ProblemError("not_found", `no backtest ${backtestId}`);
    if (format === "csv") {
      if (job.report === null)
        throw new ProblemError("not_found", `backtest ${backtestId} has no report yet (${job.status})`);
      ctx.type = "text/csv; charset=utf-8";
      ctx.set("Content-Disposition", `attachment; filename="backtest-${backtestId}.csv"`);
      ctx.body = backtestCsv(job.report);
      return;
    }
    ctx.body = { ...jobView(job), report: job.report };
  });
}

function jobView(job: BacktestJob) {
  return {
    backtestId: job.backtestId,
    status: job.status,
    requestedBy: job.requestedBy,
    from: job.from,
    to: job.to,
    comment: job.comment,
    balancesReplayed: job.balancesReplayed,
    startedAt: job.startedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    error: job.error,
    candidate: job.candidate,
  };
}
