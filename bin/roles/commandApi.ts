import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { ApiKeys } from "../../http/ApiKeys.ts";
import { createCommandApi } from "../../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { BalanceImports } from "../../commands/balances/BalanceImports.ts";
import { BalanceImportRunner } from "../../commands/balances/BalanceImportRunner.ts";
import { projectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import { traceRequests } from "../../gateways/observability/traceContext.ts";
import type { Config } from "../loadConfig.ts";
import { healthRoutes, listen } from "./listen.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The command API on COMMAND_API_PORT: commands in, events appended. */
export async function startCommandApi(context: SystemContext, apiKeys: ApiKeys): Promise<void> {
  const { config, pool, store, metrics, stops, urls } = context;
  const logger = context.logger.child({ role: "command-api" });
  const idempotency = new IdempotencyStore(pool, "tidemark", logger.child({ component: "idempotency" }));
  await idempotency.migrate();
  const imports = new BalanceImports(pool, projectionSchemas(config.schemaPrefix).runtime);
  await imports.migrate();
  const runner = new BalanceImportRunner({
    imports,
    store,
    rules: context.rules,
    bounds: config.referenceTimeBounds,
    clock: Date.now,
    directory: config.balanceImports.directory,
    maxBytes: config.balanceImports.maxBytes,
    logger: logger.child({ component: "balance-imports" }),
  });
  stops.unshift(() => runner.stop());
  const app = createCommandApi({
    store,
    rules: context.rules,
    referenceTimeBounds: config.referenceTimeBounds,
    templates: await loadTemplates(),
    apiKeys,
    idempotency,
    rateLimiter: createRateLimiter(config, context.redis, logger.child({ component: "rate-limiter" })),
    logger: logger.child({ component: "command-api" }),
    clock: Date.now,
    extraRoutes: [healthRoutes(pool)],
    balanceImports: { runner, imports },
  });
  // Files this process received and had not finished importing when it last stopped.
  await runner.resumeUnfinished();
  await listen(
    app,
    config.listenHost,
    config.commandApiPort,
    stops,
    metrics.httpMiddleware("command-api"),
    traceRequests("command-api"),
  );
  urls.commandApi = `http://127.0.0.1:${config.commandApiPort}`;
}

/** Memory by default; Redis when REDIS_URL is set, backed by a memory limiter if Redis fails. */
function createRateLimiter(config: Config, redis: Redis | undefined, logger: Logger): RateLimiterAbstract {
  const options = { points: config.rateLimitPerSecond, duration: 1, keyPrefix: "tidemark-commands" };
  const memory = new RateLimiterMemory(options);
  if (redis === undefined) return memory;
  redis.on("error", (error: Error) =>
    logger.warn({ err: error }, "Redis unavailable; rate limits fall back to memory"),
  );
  return new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: memory });
}
