import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { answerClientErrors } from "../http/answerClientErrors.ts";
import { ApiKeys, hashApiKey, type Scope } from "../http/ApiKeys.ts";
import { createCommandApi } from "../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../http/IdempotencyStore.ts";
import { startLiveRules } from "../commands/rules/LiveRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import { allProjections } from "../projections/allProjections.ts";
import { createQueryApi } from "../projections/api/createQueryApi.ts";
import { LivePositions } from "../projections/api/LivePositions.ts";
import { MemoryQueryCache } from "../projections/api/MemoryQueryCache.ts";
import type { QueryCache } from "../projections/api/QueryCache.ts";
import { queryRoutes } from "../projections/api/queryRoutes.ts";
import {
  createRegistry,
  listBuilds,
  projectionSchemas,
  type ProjectionSchemas,
} from "../projections/runtime/ProjectionBuilds.ts";
import { runProjector } from "../projections/runtime/runProjector.ts";
import { closeServer, listenOnLoopback } from "./loopbackServer.ts";
import { openTestEventStore, TEST_DATABASE_URL, type TestEventStore } from "./postgresTestDatabase.ts";

export interface TestKey {
  readonly name: string;
  readonly key: string;
  readonly scopes: readonly Scope[];
}

/** The read side and the command API of Tidemark over real PostgreSQL, in schemas of their own. */
export interface TestSystem extends TestEventStore {
  readonly schemas: ProjectionSchemas;
  readonly db: Kysely<unknown>;
  readonly commandUrl: string;
  readonly queryUrl: string;
  /** Stops the projector (e.g. to rebuild or to prove a wait times out); `startProjector` starts it again. */
  stopProjector(): Promise<void>;
  startProjector(): void;
  close(): Promise<void>;
}

/**
 * The command API, the projector (every read model) and the query API on ephemeral ports, with
 * the shipped rules and templates and a fixed command clock (2026-11-24T09:00Z).
 */
export async function startTestSystem(
  keys: readonly TestKey[],
  options: {
    readonly cache?: QueryCache;
    readonly readYourWritesTimeoutMs?: number;
    readonly projector?: boolean;
  } = {},
): Promise<TestSystem> {
  const opened = await openTestEventStore(30);
  const { database, store } = opened;
  const logger = pino({ level: "silent" });
  const schemas = projectionSchemas(database.schema);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: database.pool }) });
  await createRegistry(db, schemas);
  const apiKeys = new ApiKeys(
    keys.map(({ name, key, scopes }) => ({ name, sha256: hashApiKey(key), scopes })),
  );
  const rules = await startLiveRules(store, { clock: () => Date.UTC(2026, 10, 24, 9), logger, pollMs: 100 });
  const idempotency = new IdempotencyStore(database.pool, database.schema, logger);
  await idempotency.migrate();
  const commandServer = await listenOnLoopback(
    createCommandApi({
      store,
      idempotency,
      rateLimiter: new RateLimiterMemory({ points: 1_000_000, duration: 1 }),
      rules,
      templates: await loadTemplates(),
      apiKeys,
      logger,
      clock: () => Date.UTC(2026, 10, 24, 9),
    }),
  );
  const queryServer = await listenOnLoopback(
    createQueryApi({
      db,
      readSchema: schemas.read,
      positions: new LivePositions(db, schemas),
      cache: options.cache ?? new MemoryQueryCache(),
      apiKeys,
      logger,
      routes: queryRoutes,
      rules,
      readYourWritesTimeoutMs: options.readYourWritesTimeoutMs ?? 5000,
    }),
  );
  for (const { server } of [commandServer, queryServer]) answerClientErrors(server);
  // The projector has a pool of its own, as it does in production.
  const projectorPool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 12 });
  let projector: { controller: AbortController; running: Promise<void> } | undefined;
  const startProjector = () => {
    const controller = new AbortController();
    const running = runProjector({
      pool: projectorPool,
      db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: projectorPool }) }),
      store,
      schemas,
      projections: allProjections,
      signal: controller.signal,
      logger,
    });
    projector = { controller, running };
  };
  const stopProjector = async () => {
    projector?.controller.abort();
    await projector?.running;
    projector = undefined;
  };
  if (options.projector ?? true) startProjector();
  return {
    ...opened,
    schemas,
    db,
    commandUrl: commandServer.url,
    queryUrl: queryServer.url,
    stopProjector,
    startProjector,
    async close() {
      await Promise.all([closeServer(commandServer.server), closeServer(queryServer.server)]);
      rules.stop();
      await stopProjector();
      await projectorPool.end();
      const builds = await listBuilds(db, schemas);
      await opened.dispose([...builds.map((build) => build.buildSchema), schemas.read, schemas.runtime]);
    },
  };
}
