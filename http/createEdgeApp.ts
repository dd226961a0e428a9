import Koa from "koa";
import helmet from "koa-helmet";
import { problemMiddleware, type ProblemLog } from "./problemMiddleware.ts";

/**
 * A Koa app with the edge every API shares in front: errors first (every error a problem+json
 * answer, `problemMiddleware`), then security headers (helmet). `X-Forwarded-*` is not trusted.
 * The app adds its own parsing, checks and routes after these.
 */
export function createEdgeApp(log: ProblemLog): Koa {
  const app = new Koa({ proxy: false });
  app.use(problemMiddleware(log));
  app.use(helmet());
  return app;
}
