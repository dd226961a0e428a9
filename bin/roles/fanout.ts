import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import { Kysely, PostgresDialect } from "kysely";
import type { Logger } from "pino";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import {
  MemoryBalanceCache,
  RedisBalanceCache,
  type BalanceCache,
} from "../../gateways/banking/BalanceCache.ts";
import { BankingApiClient } from "../../gateways/banking/BankingApiClient.ts";
import { RefreshBudget } from "../../gateways/banking/RefreshBudget.ts";
import { countAmqpDeadLetters } from "../../gateways/fanout/amqpDeadLetters.ts";
import {
  consumerQueues,
  DEFAULT_RETRY_DELAYS_MS,
  EVENTS_EXCHANGE,
} from "../../gateways/fanout/amqpTopology.ts";
import { DeadLetters } from "../../gateways/fanout/DeadLetters.ts";
import type { EventConsumer } from "../../gateways/fanout/EventConsumer.ts";
import { FanoutCheckpoints } from "../../gateways/fanout/FanoutCheckpoints.ts";
import { PendingRetries } from "../../gateways/fanout/PendingRetries.ts";
import { runAmqpConsumer, type ConsumerOutcome } from "../../gateways/fanout/runAmqpConsumer.ts";
import { RELAY_NAME, runAmqpRelay } from "../../gateways/fanout/runAmqpRelay.ts";
import { runInProcessConsumer } from "../../gateways/fanout/runInProcessConsumer.ts";
import { DeferredWakeups } from "../../gateways/sms/DeferredWakeups.ts";
import { TwilioSmsProvider } from "../../gateways/sms/TwilioSmsProvider.ts";
import type { TrackingTables } from "../../projections/tracking/TrackingTables.ts";
import { batchedCountSentSince } from "../../projections/tracking/trackingQueries.ts";
import { bankingGateway } from "../../reactors/bankingGateway.ts";
import { qualificationPolicy } from "../../reactors/qualificationPolicy.ts";
import { runDeferredWakeups } from "../../reactors/runDeferredWakeups.ts";
import { migrateSchedule, scheduleTable } from "../../reactors/runRefreshScheduler.ts";
import { FANOUT_BINDINGS } from "../../reactors/consumerNames.ts";
import { scheduleMembership } from "../../reactors/scheduleMembership.ts";
import { smsGateway } from "../../reactors/smsGateway.ts";
import type { Role } from "../roles.ts";
import { watchDeadLetters, watchRelay } from "../systemGauges.ts";
import { bankingApiOf, smsProvidersOf, webhookBaseUrlOf } from "./simulatorDefaults.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The roles that take part in the fan-out. */
export const FANOUT_ROLES: readonly Role[] = [
  "relay",
  "qualification",
  "banking",
  "notification",
  "scheduler",
];

/** What the fan-out's roles share while they start. */
interface Fanout {
  readonly context: SystemContext;
  readonly checkpoints: FanoutCheckpoints;
  readonly deadLetters: DeadLetters;
  readonly retries: PendingRetries;
  readonly signal: AbortSignal;
  /** Every loop started, awaited on the way out. */
  readonly running: Promise<void>[];
  /** The consumers started, for the dead-letter gauge. */
  readonly consumers: string[];
}

/**
 * Messages the SMS gateway and the qualification policy handle at once. A consumer handles at
 * most that many divided by the time each takes: an SMS passes checks, a claim, the provider and a
 * record, each round trip waiting its turn under load. 16 and 8 carried about 160 SMS a second on
 * 2 cores with every role on them, and fell behind 200 pushes a second; 64 and 32 kept up with it
 * (p99 334–428 ms in three runs). 128 and 64 carried more at 300 a second (about 285 SMS a second
 * against 270) but answered 200 a second slower (p99 536–1,583 ms): bench/README.md.
 */
const NOTIFICATIONS_AT_ONCE = 64;
const QUALIFICATIONS_AT_ONCE = 32;

/**
 * The fan-out roles. With AMQP_URL the relay publishes the log to RabbitMQ and each consumer
 * reads its own queue; without, there is nothing to relay and each consumer follows the log from
 * its own checkpoint (the embedded default). Either way a consumer's dead letters are kept: in its
 * `.dead` queue, or in `<prefix>_fanout.dead_letters`.
 */
export async function startFanout(roles: ReadonlySet<Role>, context: SystemContext): Promise<void> {
  const { config, pool } = context;
  const schema = `${config.schemaPrefix}_fanout`;
  const checkpoints = new FanoutCheckpoints(pool, schema);
  await checkpoints.migrate();
  const controller = new AbortController();
  const fanout: Fanout = {
    context,
    checkpoints,
    deadLetters: new DeadLetters(pool, schema),
    retries: new PendingRetries(pool, schema),
    signal: controller.signal,
    running: [],
    consumers: [],
  };
  if (roles.has("relay")) startRelay(fanout);
  if (config.amqpUrl === undefined) {
    await fanout.deadLetters.migrate();
    await fanout.retries.migrate();
  }
  // Each qualification has its own notification (deterministic id): many at once.
  if (roles.has("qualification"))
    consume(fanout, "qualification", await createQualificationPolicy(context), QUALIFICATIONS_AT_ONCE);
  if (roles.has("notification")) await startNotification(fanout);
  // One refresh may wait for the bank (Retry-After, timeouts): the others go on beside it.
  if (roles.has("banking"))
    consume(fanout, "banking", await createBankingGateway(context), config.banking.concurrency);
  // Openings and closings keep the refresh schedule's members (each an insert or a delete).
  if (roles.has("scheduler")) consume(fanout, "scheduler", await createScheduleMembership(context), 8);
  const { amqpUrl } = config;
  if (fanout.consumers.length > 0) {
    watchDeadLetters(context.metrics, fanout.consumers, () =>
      amqpUrl === undefined
        ? fanout.deadLetters.countByConsumer()
        : countAmqpDeadLetters(amqpUrl, fanout.consumers),
    );
  }
  context.stops.unshift(async () => {
    controller.abort();
    await Promise.all(fanout.running);
  });
}

/** The relay, with AMQP_URL: the log published to RabbitMQ from the relay's checkpoint. */
function startRelay(fanout: Fanout): void {
  const { context } = fanout;
  const { amqpUrl } = context.config;
  const logger = roleLogger(context, "relay");
  if (amqpUrl === undefined) {
    logger.info("no AMQP_URL: nothing to relay, consumers follow the log in-process");
    return;
  }
  fanout.running.push(
    runAmqpRelay({
      pool: context.pool,
      store: context.store,
      checkpoints: fanout.checkpoints,
      amqpUrl,
      signal: fanout.signal,
      logger: logger.child({ component: "amqp-relay" }),
      onPublished: ({ events }) => context.metrics.relayConfirms.inc(events),
      consumers: Object.values(FANOUT_BINDINGS),
    }),
  );
  watchRelay(context.metrics, {
    checkpoints: fanout.checkpoints,
    name: RELAY_NAME,
    store: context.unmeasuredStore,
  });
  context.urls.relay = `${amqpUrl.replace(/\/\/[^@]*@/, "//")} exchange ${EVENTS_EXCHANGE}`;
}

/** Runs `consumer` for `role`: on its RabbitMQ queue with AMQP_URL, else following the log in-process. */
function consume(fanout: Fanout, role: Role, consumer: EventConsumer, concurrency = 1): void {
  const { context, signal } = fanout;
  const { amqpUrl } = context.config;
  const logger = roleLogger(context, role).child({ component: "consumer" });
  // Labelled by the consumer's first queue name, also for a priority queue's consumer: its series
  // and the alerts on them go on across the move to `tidemark.<name>.prioritised`.
  const onOutcome = (outcome: ConsumerOutcome) =>
    context.metrics.consumerMessages.inc({ queue: `tidemark.${consumer.name}`, outcome });
  fanout.running.push(
    amqpUrl === undefined
      ? runInProcessConsumer({
          pool: context.pool,
          store: context.store,
          checkpoints: fanout.checkpoints,
          deadLetters: fanout.deadLetters,
          retries: fanout.retries,
          consumer,
          concurrency,
          signal,
          logger,
          onOutcome,
        })
      : runAmqpConsumer({ amqpUrl, consumer, concurrency, signal, logger, onOutcome }),
  );
  fanout.consumers.push(consumer.name);
  const queue = consumerQueues(consumer.name, DEFAULT_RETRY_DELAYS_MS, {
    priorityQueue: consumer.priorityQueue === true,
  }).main;
  const where = amqpUrl === undefined ? `${consumer.name} in-process` : `queue ${queue}`;
  // The scheduler has said what it does already: its consumer is added to that.
  const said = context.urls[role];
  context.urls[role] = said === undefined ? where : `${said}; ${where}`;
}

async function createQualificationPolicy(context: SystemContext): Promise<EventConsumer> {
  return qualificationPolicy({
    store: context.store,
    rules: context.rules,
    templates: await loadTemplates(),
    clock: Date.now,
    newEventId,
    logger: roleLogger(context, "qualification").child({ component: "qualification-policy" }),
  });
}

/** The SMS gateway on its queue, and the deferred notifications (quiet hours) woken when due. */
async function startNotification(fanout: Fanout): Promise<void> {
  const { context } = fanout;
  const { config, pool } = context;
  const logger = roleLogger(context, "notification");
  const trackingDb = new Kysely<TrackingTables>({ dialect: new PostgresDialect({ pool }) });
  const wakeups = new DeferredWakeups(pool, `${config.schemaPrefix}_sms`);
  await wakeups.migrate();
  const gateway = smsGateway({
    store: context.store,
    rules: context.rules,
    providers: smsProvidersOf(config).map((provider) => new TwilioSmsProvider(provider)),
    statusCallbackUrl: `${webhookBaseUrlOf(config)}/sms/status`,
    templates: await loadTemplates(),
    sentSince: batchedCountSentSince(trackingDb, context.schemas.read),
    wakeups,
    clock: Date.now,
    newEventId,
    logger: logger.child({ component: "sms-gateway" }),
  });
  // One notification per message, claims guard against doubles: many at once, as providers allow.
  // On RabbitMQ the queue hands service alerts over first (a priority queue); among these the
  // gateway's lanes put them first at the providers' pace (README, "SMS at the provider's rate").
  consume(fanout, "notification", gateway, NOTIFICATIONS_AT_ONCE);
  fanout.running.push(
    runDeferredWakeups({
      store: context.store,
      wakeups,
      gateway,
      signal: fanout.signal,
      clock: Date.now,
      logger: logger.child({ component: "deferred-wakeups" }),
    }),
  );
}

async function createScheduleMembership(context: SystemContext): Promise<EventConsumer> {
  const { config, pool } = context;
  const schema = `${config.schemaPrefix}_scheduler`;
  await migrateSchedule(pool, schema);
  return scheduleMembership({
    pool,
    store: context.store,
    table: scheduleTable(schema),
    schedule: config.refreshSchedule,
    clock: Date.now,
  });
}

async function createBankingGateway(context: SystemContext): Promise<EventConsumer> {
  const { config, metrics } = context;
  const logger = roleLogger(context, "banking");
  const budget = new RefreshBudget(context.pool, `${config.schemaPrefix}_banking`);
  await budget.migrate();
  const bankingApi = bankingApiOf(config);
  return bankingGateway({
    store: context.store,
    rules: context.rules,
    referenceTimeBounds: config.referenceTimeBounds,
    bank: new BankingApiClient({
      baseUrl: bankingApi.url,
      accessToken: bankingApi.token,
      retryAfterCapMs: config.banking.retryAfterCapMs,
      deadlineMs: config.banking.refreshDeadlineMs,
      ...(config.banking.attemptsPerSecond === undefined
        ? {}
        : { attemptsPerSecond: config.banking.attemptsPerSecond }),
      onCircuitChange: (state) => {
        metrics.circuitChanged(state);
        logger.warn({ circuit: state }, "Banking API circuit");
      },
      onAttempt: (outcome) => metrics.bankingCalls.inc({ outcome }),
    }),
    budget,
    cache: createBalanceCache(context),
    clock: Date.now,
    newEventId,
    logger: logger.child({ component: "banking-gateway" }),
    onFailure: (reason) => metrics.bankingRefreshFailures.inc({ reason }),
  });
}

/** Recent bank balances for a minute: in Redis with REDIS_URL (shared by replicas), else in memory. */
function createBalanceCache(context: SystemContext): BalanceCache {
  const ttlMs = 60_000;
  // A failing Redis is a cache miss: one more bank read.
  return context.redis === undefined
    ? new MemoryBalanceCache(ttlMs)
    : new RedisBalanceCache(context.redis, ttlMs);
}

function roleLogger(context: SystemContext, role: Role): Logger {
  return context.logger.child({ role });
}
