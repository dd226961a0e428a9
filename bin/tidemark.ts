import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { EventStoreDBClient } from "@eventstore/db-client";
import Router from "@koa/router";
import { Redis } from "ioredis";
import pg from "pg";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import { pino, type Logger } from "pino";
import { ApiKeys, hashApiKey, type ApiKeyEntry } from "../commands/api/ApiKeys.ts";
import { createCommandApi } from "../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../commands/api/IdempotencyStore.ts";
import { loadRules, RulesFileError } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { EventStoreDbEventStore } from "../gateways/eventStore/eventStoreDb/EventStoreDbEventStore.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { ConfigError, loadConfig, type Config } from "./loadConfig.ts";
import { startEmbeddedPostgres } from "./startEmbeddedPostgres.ts";

/**
 * The composition root of the whole system. Today it starts what exists: PostgreSQL (embedded by
 * default), the event store with its schema migrated, the rules, and the command API (account
 * commands, /health, /ready). The query API, projectors and gateways join here as they are built.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel, base: { service: "tidemark" } });
  const stops: (() => Promise<void>)[] = [];
  let rules;
  try {
    rules = await loadRules(config.rulesFile);
  } catch (error) {
    if (error instanceof RulesFileError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }

  const database =
    config.database.kind === "embedded"
      ? await startEmbeddedPostgres(config.database.dataDir, config.database.port, logger)
      : { url: config.database.url, stop: () => Promise.resolve() };
  stops.unshift(() => database.stop());
  const pool = new pg.Pool({ connectionString: database.url, max: 20 });
  pool.on("error", (error) => logger.warn({ err: error }, "idle PostgreSQL connection failed"));
  stops.unshift(() => pool.end());

  let store: EventStore;
  if (config.eventStore.kind === "eventstoredb") {
    store = new EventStoreDbEventStore(EventStoreDBClient.connectionString(config.eventStore.url));
  } else {
    await PostgresEventStore.migrate(pool);
    store = new PostgresEventStore(pool);
  }
  stops.unshift(() => store.close());

  const apiKeys = new ApiKeys(
    config.apiKeys.length > 0 ? config.apiKeys : await createDevApiKey(config.database, logger),
  );
  const idempotency = new IdempotencyStore(pool, "tidemark", logger);
  await idempotency.migrate();
  const app = createCommandApi({
    store,
    rules,
    templates: await loadTemplates(),
    apiKeys,
    idempotency,
    rateLimiter: createRateLimiter(config, stops, logger),
    logger,
    clock: Date.now,
    extraRoutes: [healthRoutes(pool)],
  });
  const server = app.listen(config.commandApiPort, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  stops.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));

  logger.info(
    {
      database:
        config.database.kind === "embedded"
          ? `embedded PostgreSQL on 127.0.0.1:${config.database.port}`
          : "external PostgreSQL",
      eventStore: config.eventStore.kind,
      rules: rules.length,
      commandApi: `http://127.0.0.1:${config.commandApiPort}`,
      health: `http://127.0.0.1:${config.commandApiPort}/health`,
    },
    "Tidemark is running: command API (account commands) and the event store; query API, projections and gateways are not built yet. Ctrl-C stops it.",
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    void (async () => {
      for (const stop of stops) {
        await stop().catch((error: unknown) => logger.warn({ err: error }, "error while stopping"));
      }
      process.exit(0);
    })();
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

/** Memory by default; Redis when REDIS_URL is set, backed by a memory limiter if Redis fails. */
function createRateLimiter(
  config: Config,
  stops: (() => Promise<void>)[],
  logger: Logger,
): RateLimiterAbstract {
  const options = { points: config.rateLimitPerSecond, duration: 1, keyPrefix: "tidemark-commands" };
  const memory = new RateLimiterMemory(options);
  if (config.redisUrl === undefined) return memory;
  const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", (error: Error) =>
    logger.warn({ err: error }, "Redis unavailable; rate limits fall back to memory"),
  );
  stops.unshift(async () => {
    redis.disconnect();
    await Promise.resolve();
  });
  return new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: memory });
}

function healthRoutes(pool: pg.Pool): Router {
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

/**
 * Only in the embedded default with no key configured: a random admin key, printed once and
 * written to `<data dir>/dev-api-key` (mode 600) so that the quick start works out of the box.
 */
async function createDevApiKey(database: Config["database"], logger: Logger): Promise<ApiKeyEntry[]> {
  if (database.kind !== "embedded") throw new Error("API keys are required outside the embedded default");
  const key = `tm_dev_${randomBytes(24).toString("hex")}`;
  const file = path.resolve(database.dataDir, "dev-api-key");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  logger.warn({ file }, "no TIDEMARK_API_KEYS: generated a development admin key (embedded default only)");
  console.error(`Development admin API key (also in ${file}): ${key}`);
  return [{ name: "dev-admin", sha256: hashApiKey(key), scopes: ["admin"] }];
}

await main();
