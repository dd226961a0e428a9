import { EventStoreDBClient } from "@eventstore/db-client";
import Router from "@koa/router";
import Koa from "koa";
import pg from "pg";
import { pino, type Logger } from "pino";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { EventStoreDbEventStore } from "../gateways/eventStore/eventStoreDb/EventStoreDbEventStore.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { ConfigError, loadConfig, type Config } from "./loadConfig.ts";
import { startEmbeddedPostgres } from "./startEmbeddedPostgres.ts";

/**
 * The composition root of the whole system. Today it starts what exists: PostgreSQL (embedded by
 * default), the event store with its schema migrated, and /health and /ready on the command API
 * port. The command API, query API, projectors and gateways join here as they are built.
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

  const server = startHealthServer(config.commandApiPort, pool, logger);
  stops.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));

  logger.info(
    {
      database:
        config.database.kind === "embedded"
          ? `embedded PostgreSQL on 127.0.0.1:${config.database.port}`
          : "external PostgreSQL",
      eventStore: config.eventStore.kind,
      health: `http://127.0.0.1:${config.commandApiPort}/health`,
      ready: `http://127.0.0.1:${config.commandApiPort}/ready`,
    },
    "Tidemark is running: the event store is ready; the command and query APIs are not built yet. Ctrl-C stops it.",
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

function startHealthServer(port: number, pool: pg.Pool, logger: Logger) {
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
  const app = new Koa();
  app.use(router.routes()).use(router.allowedMethods());
  return app.listen(port, "127.0.0.1", () => logger.debug({ port }, "health server listening"));
}

await main();
