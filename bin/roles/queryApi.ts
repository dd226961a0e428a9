import type { Redis } from "ioredis";
import { ruleRoutes, validatedRuleset } from "../../commands/api/ruleRoutes.ts";
import { rulePublishingOpenApiPaths } from "../../commands/api/openApiDocument.ts";
import { jsonBodies } from "../../http/jsonBodies.ts";
import { refuseControlCharacters } from "../../http/refuseControlCharacters.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import type { Templates } from "../../domain/notification/Templates.ts";
import { BacktestJobs } from "../../projections/backtest/BacktestJobs.ts";
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
import { deadLetterInbox } from "../../gateways/fanout/DeadLetterInbox.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { allProjections } from "../../projections/allProjections.ts";
import type { OperationsDependencies } from "../../projections/api/operations/OperationsDependencies.ts";
import { createRegistry } from "../../projections/runtime/ProjectionBuilds.ts";
import { CONSOLE_BUILD_DIRECTORY, consoleRoutes } from "../../http/consoleRoutes.ts";
import { RebuildJobs } from "../../projections/runtime/RebuildJobs.ts";
import { FANOUT_CONSUMERS } from "../../reactors/consumerNames.ts";
import { healthRoutes, listen } from "./listen.ts";
import type { SystemContext } from "./SystemContext.ts";
import { backtestThreadsFor } from "../backtestThreadsFor.ts";

/** The query API on QUERY_API_PORT, over the live read models, with a pool of its own. */
export async function startQueryApi(context: SystemContext, apiKeys: ApiKeys): Promise<void> {
  const { config, schemas, metrics, stops, urls } = context;
  const logger = context.logger.child({ role: "query-api" });
  const queryPool = context.openPool(20);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: queryPool }) });
  await createRegistry(db, schemas);
  // The SMS templates: backtests render requests with them, publishing checks every rule has one.
  const templates = await loadTemplates();
  const operations = await createOperations(
    context,
    db,
    templates,
    logger.child({ component: "operations" }),
  );
  stops.unshift(() => operations.rebuilds.stop());
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
    operations,
    // The console publishes rule sets through the API it is served from: the command API's route.
    rulePublishing: {
      openApiPaths: rulePublishingOpenApiPaths(),
      routes: ruleRoutes({
        store: context.store,
        rules: context.rules,
        templates,
        apiKeys,
        clock: Date.now,
        idempotent: operations.idempotency.middleware,
        limited: (_ctx, next) => next(),
        parseBody: [
          ...jsonBodies({ maxBytes: 64 * 1024, maxDepth: 32 }),
          refuseControlCharacters("single-line"),
        ],
      }),
    },
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
 * The operations routes' parts: rebuilds on a small pool of their own (a lease connection and a
 * batch at a time, so they never starve the queries), dead letters where the fan-out keeps them,
 * Idempotency-Keys beside the command API's, and the rules loaded at start-up.
 */
async function createOperations(
  context: SystemContext,
  db: Kysely<unknown>,
  templates: Templates,
  logger: Logger,
): Promise<OperationsDependencies> {
  const { config, schemas } = context;
  const rebuildPool = context.openPool(4);
  const rebuilds = new RebuildJobs({
    pool: rebuildPool,
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: rebuildPool }) }),
    store: context.unmeasuredStore,
    schemas,
    logger: logger.child({ component: "rebuilds" }),
  });
  await rebuilds.migrate();
  const deadLetters = deadLetterInbox(
    config.amqpUrl === undefined
      ? { pool: context.pool, schema: `${config.schemaPrefix}_fanout` }
      : { amqpUrl: config.amqpUrl },
  );
  await deadLetters.migrate();
  // The command API's table (in the event store's schema): one key, one answer, whichever API.
  const idempotency = new IdempotencyStore(
    context.pool,
    "tidemark",
    logger.child({ component: "idempotency" }),
  );
  await idempotency.migrate();
  const jobs = new BacktestJobs({
    db,
    schema: schemas.runtime,
    store: context.unmeasuredStore,
    actualRules: () => context.rules.current().published,
    templates,
    bounds: config.referenceTimeBounds,
    logger: logger.child({ component: "backtests" }),
    threads: backtestThreadsFor({ databaseUrl: context.databaseUrl }, config.backtestThreads),
  });
  await jobs.migrate();
  context.stops.unshift(() => jobs.stop());
  return {
    backtests: { jobs, parseCandidate: (document) => validatedRuleset(document, templates) },
    db,
    store: context.unmeasuredStore,
    schemas,
    projections: allProjections,
    rebuilds,
    deadLetters,
    consumers: FANOUT_CONSUMERS,
    rules: context.rules,
    idempotency,
    logger,
  };
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
