/**
 * The server side of `npm run bench -- projections`, run in its own process so that the load
 * generator does not share its event loop. Wired as `bin/tidemark.ts` wires the roles:
 * - `commands`: the command API, and with a projector pool size the projector too (every read
 *   model, its own pool) over one event store, as one all-roles process runs them;
 * - `projector`: the projector alone (prints "ready 0": nothing to listen on);
 * - `queries`: the query API over read models built beforehand, with the cache asked for, the
 *   shipped rules (for the rule states), the operations routes and the console's build at
 *   `/console/`, as `bin/roles/queryApi.ts` wires it.
 * Takes a `ProjectionsBenchmarkServerRequest` as JSON in argv[2], prints "ready <port>", and
 * shuts down cleanly on SIGTERM. Started by the benchmark (and, `commands` alone, by the balances
 * benchmark for its single pushes); not meant to be run by hand.
 */
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { Redis } from "ioredis";
import type Koa from "koa";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { pino, type Logger } from "pino";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { ApiKeys, hashApiKey } from "../../http/ApiKeys.ts";
import { CONSOLE_BUILD_DIRECTORY, consoleRoutes } from "../../http/consoleRoutes.ts";
import { fixedRules, type RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import { deadLetterInbox } from "../../gateways/fanout/DeadLetterInbox.ts";
import type { OperationsDependencies } from "../../projections/api/operations/OperationsDependencies.ts";
import { RebuildJobs } from "../../projections/runtime/RebuildJobs.ts";
import { FANOUT_CONSUMERS } from "../../reactors/consumerNames.ts";
import { createCommandApi } from "../../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { startLiveRules } from "../../commands/rules/LiveRules.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { allProjections } from "../../projections/allProjections.ts";
import { createQueryApi } from "../../projections/api/createQueryApi.ts";
import { LivePositions } from "../../projections/api/LivePositions.ts";
import { MemoryQueryCache } from "../../projections/api/MemoryQueryCache.ts";
import type { CachedAnswer, QueryCache } from "../../projections/api/QueryCache.ts";
import { queryRoutes } from "../../projections/api/queryRoutes.ts";
import { RedisQueryCache } from "../../projections/api/RedisQueryCache.ts";
import { TieredQueryCache } from "../../projections/api/TieredQueryCache.ts";
import { projectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { runProjector } from "../../projections/runtime/runProjector.ts";
import {
  BENCH_READER_KEY,
  BENCH_WRITER_KEY,
  type ProjectionsBenchmarkServerRequest,
} from "./ProjectionsBenchmarkServerRequest.ts";

/** What every role leaves to stop: servers first, then the work behind them, then the pools. */
type Stop = () => Promise<void>;

async function startCommands(
  request: Extract<ProjectionsBenchmarkServerRequest, { role: "commands" }>,
  stops: Stop[],
): Promise<Koa> {
  const logger = pino({ level: "error" });
  const pool = openPool(request.databaseUrl, request.commandPoolSize, stops);
  const store = new PostgresEventStore(pool, { schema: request.prefix });
  stops.unshift(() => store.close());
  if (request.projectorPoolSize !== undefined) {
    startProjector(request.databaseUrl, store, request.prefix, request.projectorPoolSize, stops);
  }
  return createCommandApi({
    store,
    idempotency: new IdempotencyStore(pool, request.prefix, logger),
    rateLimiter: new RateLimiterMemory({ points: 10_000_000, duration: 1 }),
    rules: await startLiveRules(store, { clock: Date.now, logger }),
    templates: await loadTemplates(),
    apiKeys: new ApiKeys([
      { name: "bench", sha256: hashApiKey(BENCH_WRITER_KEY), scopes: ["balances:write"] },
    ]),
    logger,
    clock: Date.now,
  });
}

/** The projector (every read model) on a pool of its own, until the process stops. */
function startProjector(
  databaseUrl: string,
  store: PostgresEventStore,
  prefix: string,
  poolSize: number,
  stops: Stop[],
): void {
  const projectorPool = openPool(databaseUrl, poolSize, stops);
  const controller = new AbortController();
  const running = runProjector({
    pool: projectorPool,
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: projectorPool }) }),
    store,
    schemas: projectionSchemas(prefix),
    projections: allProjections,
    signal: controller.signal,
    logger: pino({ level: "info", base: { role: "projector" } }, pino.destination(2)),
  });
  stops.unshift(async () => {
    controller.abort();
    await running;
  });
}

/** The projector alone, as `npm start -- projector` runs it: its own event store on its own pool. */
function startProjectorAlone(
  request: Extract<ProjectionsBenchmarkServerRequest, { role: "projector" }>,
  stops: Stop[],
): void {
  const pool = openPool(request.databaseUrl, 2, stops);
  const store = new PostgresEventStore(pool, { schema: request.prefix });
  stops.unshift(() => store.close());
  startProjector(request.databaseUrl, store, request.prefix, request.projectorPoolSize, stops);
}

async function startQueries(
  request: Extract<ProjectionsBenchmarkServerRequest, { role: "queries" }>,
  stops: Stop[],
): Promise<Koa> {
  const logger = pino({ level: "error" });
  const pool = openPool(request.databaseUrl, request.poolSize, stops);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const schemas = projectionSchemas(request.prefix);
  const cache = await openCache(request, logger);
  stops.unshift(() => cache.close());
  const rules = fixedRules(await loadRules());
  return createQueryApi({
    db,
    readSchema: schemas.read,
    positions: new LivePositions(db, schemas),
    cache,
    apiKeys: new ApiKeys([
      { name: "bench-reader", sha256: hashApiKey(BENCH_READER_KEY), scopes: ["queries:read"] },
    ]),
    logger,
    routes: queryRoutes,
    rules,
    extraRoutes: [await consoleRoutes(CONSOLE_BUILD_DIRECTORY)],
    operations: await startOperations(request, db, rules, logger, stops),
  });
}

/**
 * The operations routes' parts as `bin/roles/queryApi.ts` builds them: rebuilds on a small pool of
 * their own, reading the log; dead letters in a fan-out table and Idempotency-Keys in a table,
 * both under the read models' prefix (dropped with them).
 */
async function startOperations(
  request: Extract<ProjectionsBenchmarkServerRequest, { role: "queries" }>,
  db: Kysely<unknown>,
  rules: RulesInForce,
  logger: Logger,
  stops: Stop[],
): Promise<OperationsDependencies> {
  const pool = openPool(request.databaseUrl, 4, stops);
  const store = new PostgresEventStore(pool, { schema: request.logSchema });
  stops.unshift(() => store.close());
  const schemas = projectionSchemas(request.prefix);
  const rebuilds = new RebuildJobs({
    pool,
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
    store,
    schemas,
    logger,
  });
  await rebuilds.migrate();
  stops.unshift(() => rebuilds.stop());
  const deadLetters = deadLetterInbox({ pool, schema: `${request.prefix}_fanout` });
  await deadLetters.migrate();
  const idempotency = new IdempotencyStore(pool, request.prefix, logger);
  await idempotency.migrate();
  return {
    db,
    store,
    schemas,
    projections: allProjections,
    rebuilds,
    deadLetters,
    consumers: FANOUT_CONSUMERS,
    rules,
    idempotency,
    logger,
  };
}

async function openCache(
  request: Extract<ProjectionsBenchmarkServerRequest, { role: "queries" }>,
  logger: Logger,
): Promise<QueryCache> {
  switch (request.cache) {
    case "memory":
      return new MemoryQueryCache();
    case "none":
      return new AlwaysMissingQueryCache();
    case "redis": {
      // As bin/tidemark.ts builds it, under a prefix of its own that is removed on shutdown.
      const redis = new Redis(request.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      redis.on("error", () => undefined); // RedisQueryCache logs the outage once
      // Without this wait the first answers would find Redis not yet connected and skip it.
      await new Promise<void>((resolve, reject) => {
        redis.once("ready", resolve);
        redis.once("end", () => reject(new Error(`cannot connect to Redis at ${request.redisUrl}`)));
      });
      const prefix = `tidemark:bench:${randomUUID()}:`;
      const tiered = new TieredQueryCache(new MemoryQueryCache(), new RedisQueryCache(redis, logger, prefix));
      return {
        get: (key) => tiered.get(key),
        set: (key, answer, ttlMs) => tiered.set(key, answer, ttlMs),
        close: async () => {
          let removed = 0;
          let cursor = "0";
          do {
            const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
            cursor = next;
            if (keys.length > 0) removed += await redis.del(...keys);
          } while (cursor !== "0");
          process.stderr.write(`[queries] removed ${removed} answers from Redis\n`);
          await tiered.close();
        },
      };
    }
    default: {
      const unknown: never = request.cache;
      throw new Error(`unknown cache: ${String(unknown)}`);
    }
  }
}

/** The contrast: every query goes to PostgreSQL. */
class AlwaysMissingQueryCache implements QueryCache {
  get(): Promise<CachedAnswer | undefined> {
    return Promise.resolve(undefined);
  }

  set(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function openPool(databaseUrl: string, max: number, stops: Stop[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on("error", (error) => process.stderr.write(`idle PostgreSQL connection failed: ${error.message}\n`));
  stops.unshift(() => pool.end());
  return pool;
}

async function main(request: ProjectionsBenchmarkServerRequest): Promise<void> {
  const stops: Stop[] = [];
  if (request.role === "projector") {
    startProjectorAlone(request, stops);
    process.stdout.write("ready 0\n"); // nothing to listen on
  } else {
    const app =
      request.role === "commands" ? await startCommands(request, stops) : await startQueries(request, stops);
    await listen(app, stops);
  }
  process.once("SIGTERM", () => {
    void (async () => {
      for (const stop of stops) await stop();
      process.exit(0);
    })().catch((error: unknown) => {
      process.stderr.write(`shutdown failed: ${String(error)}\n`);
      process.exit(1);
    });
  });
}

/** Serves `app` on a free loopback port and says which. */
async function listen(app: Koa, stops: Stop[]): Promise<void> {
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  stops.unshift(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  process.stdout.write(`ready ${typeof address === "object" && address !== null ? address.port : 0}\n`);
}

await main(JSON.parse(process.argv[2] ?? "") as ProjectionsBenchmarkServerRequest);
