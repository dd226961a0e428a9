import Router from "@koa/router";
import Koa from "koa";
import type pg from "pg";
import { answerClientErrors } from "../../http/answerClientErrors.ts";
import type { Metrics } from "../../gateways/observability/Metrics.ts";
import type { Stop } from "./SystemContext.ts";

/** Serves `app` on `host:port` until stopped; `outermost` middleware goes in front of the app's own. */
export async function listen(
  app: Koa,
  host: string,
  port: number,
  stops: Stop[],
  ...outermost: Koa.Middleware[]
): Promise<void> {
  // Outermost (in this order), so that a request is timed and traced with the status the error
  // middleware gave it.
  app.middleware.unshift(...outermost);
  const server = app.listen(port, host);
  answerClientErrors(server);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  stops.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

/** Every process's own port: `/metrics` for Prometheus, `/health` and `/ready` for probes. */
export function opsServer(metrics: Metrics, pool: pg.Pool): Koa {
  const router = healthRoutes(pool);
  router.get("/metrics", async (ctx) => {
    const { contentType, body } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = body;
  });
  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/** `/health` (the process answers) and `/ready` (PostgreSQL answers too). */
export function healthRoutes(pool: pg.Pool): Router {
  const router = new Router();
  router.get("/health", (ctx) => {
    ctx.body = { status: "ok" };
  });
  router.get("/ready", async (ctx) => {
    try {
      await pool.query("select 1");
      ctx.body = { status: "ready" };
    } catch {
      ctx.status = 503;
      ctx.body = { status: "not ready", reason: "PostgreSQL does not answer" };
    }
  });
  return router;
}
