import type { Redis } from "ioredis";
import { Kysely, PostgresDialect } from "kysely";
import type { Logger } from "pino";
import type { ApiKeys } from "../../http/ApiKeys.ts";
import { traceRequests } from "../../gateways/observability/traceContext.ts";
import { createQueryApi } from "../../projections/api/createQueryApi.ts";
import { LivePositions } from "../../projections/api/LivePositions.ts";
import { MemoryQueryCache } from "../../projections/api/MemoryQueryCache.ts";
import type { QueryCache } from "../../projections/api/QueryCache.ts";
import { queryRoutes } from "../../projections/api/queryRoutes.ts";
import { RedisQueryCache } from "../../projections/api/RedisQueryCache.ts";
import { TieredQueryCache } from "../../projections/api/TieredQueryCache.ts";
import { createRegistry } from "../../projections/runtime/ProjectionBuilds.ts";
import { CONSOLE_BUILD_DIRECTORY, consoleRoutes } from "../../http/consoleRoutes.ts";
import { healthRoutes, listen } from "./listen.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The query API on QUERY_API_PORT, over the live read models, with a pool of its own. */
export async function startQueryApi(context: SystemContext, apiKeys: ApiKeys): Promise<void> {
  const { config, schemas, metrics, stops, urls } = context;
  const logger = context.logger.child({ role: "query-api" });
  const queryPool = context.openPool(20);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: queryPool }) });
  await createRegistry(db, schemas);
  const app = createQueryApi({
    db,
    readSchema: schemas.read,
    positions: new LivePositions(db, schemas),
    cache: createQueryCache(context.redis, logger.child({ component: "query-cache" })),
    apiKeys,
    logger: logger.child({ component: "query-api" }),
    routes: queryRoutes,
    rules: context.rules,
    referenceTimeBounds: config.referenceTimeBounds,
    readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
    extraRoutes: [healthRoutes(queryPool), await consoleRoutes(CONSOLE_BUILD_DIRECTORY)],
  });
  await listen(
    app,
    config.listenHost,
    config.queryApiPort,
    stops,
    metrics.httpMiddleware("query-api"),
    traceRequests("query-api"),
  );
  urls.queryApi = `http://127.0.0.1:${config.queryApiPort}`;
  urls.console = `http://127.0.0.1:${config.queryApiPort}/console/`;
}

/**
 * Memory by default; with REDIS_URL a small memory cache in front of Redis (Redis failing costs
 * speed only; RedisQueryCache logs the outage once). The shared Redis client is `main`'s to stop.
 */
function createQueryCache(redis: Redis | undefined, logger: Logger): QueryCache {
  const memory = new MemoryQueryCache();
  if (redis === undefined) return memory;
  return new TieredQueryCache(memory, new RedisQueryCache(redis, logger));
}
