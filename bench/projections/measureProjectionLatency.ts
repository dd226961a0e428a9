import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";
import type { JsonObject } from "../../gateways/eventStore/EventStore.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { parsePosition } from "../../gateways/eventStore/Position.ts";
import { allProjections } from "../../projections/allProjections.ts";
import { createRegistry, projectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import { BalancePushSequence } from "./BalancePushSequence.ts";
import { dropSchemasWithPrefix } from "../shared/dropSchemasWithPrefix.ts";
import { LiveCheckpointWatcher } from "./LiveCheckpointWatcher.ts";
import type { ProjectionsBenchmarkOptions } from "./parseProjectionsBenchmarkOptions.ts";
import type { ProjectionsBenchmarkConfig } from "./ProjectionsBenchmarkConfig.ts";
import { runOpenLoopLoad } from "../shared/runOpenLoopLoad.ts";
import { startLinuxCpuMeter, type CpuReading } from "../shared/startLinuxCpuMeter.ts";
import { startProjectionsBenchmarkServer } from "./startProjectionsBenchmarkServer.ts";

/** One latency run: the peak found, then the steady load and what the read models made of it. */
export interface LatencyRun {
  /** Closed-loop requests/s of the command API (autocannon's mean over the peak run). */
  readonly peakRequestsPerSecond: number;
  readonly peakNon2xx: number;
  /** Events the slowest read model was behind when the peak run ended, and how long it took to catch up. */
  readonly backlogAfterPeak: number;
  readonly catchUpSeconds: number;
  readonly targetRequestsPerSecond: number;
  /** 2xx answers per second of the steady load, first send to last answer. */
  readonly achievedRequestsPerSecond: number;
  readonly sent: number;
  readonly failed: number;
  /** Answer → every live checkpoint past the answer's position, in ms. */
  readonly projection: Percentiles;
  /** How long before the last request was sent the slowest one was answered (negative: after). */
  readonly slowestBeforeEndMs: number;
  /** Answers whose position no checkpoint passed within the drain timeout. */
  readonly neverProjected: number;
  /** Send → answer of the steady load's commands, in ms (for context). */
  readonly command: Percentiles;
  /** Between two registry reads, in ms: the resolution of `projection`. */
  readonly readInterval: Percentiles;
  readonly cpu: CpuReading;
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const CATCH_UP_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * One run of the end-to-end latency measurement, on a fresh event store and fresh read models
 * (`config.latencyPrefix`, dropped again at the end): accounts opened; the command API and the
 * projector started in a child process; one unmeasured push per account; the command API's peak
 * found with a closed-loop autocannon run; the projector allowed to catch up; then an open-loop steady load at
 * `loadPercent` of that peak, timing each answered command until every read model's live
 * checkpoint has passed the position it returned.
 */
export async function measureProjectionLatency(
  config: ProjectionsBenchmarkConfig,
  options: ProjectionsBenchmarkOptions,
  progress: (message: string) => void,
): Promise<LatencyRun> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8 });
  const watcherClient = new pg.Client({ connectionString: config.databaseUrl });
  const prefix = config.latencyPrefix;
  const schemas = projectionSchemas(prefix);
  const store = new PostgresEventStore(pool, { schema: prefix });
  try {
    await dropSchemasWithPrefix(pool, prefix);
    await PostgresEventStore.migrate(pool, prefix);
    await new IdempotencyStore(pool, prefix, pino({ level: "silent" })).migrate();
    // The projector creates it too, but the watcher reads it before the projector is up.
    await createRegistry(new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }), schemas);
    const pushes = new BalancePushSequence(config.latencyAccounts, `bench-${randomUUID()}`);
    await openAccounts(store, pushes.accountIds());
    await watcherClient.connect();
    const watcher = new LiveCheckpointWatcher(
      watcherClient,
      schemas,
      allProjections.map((projection) => projection.name),
      config.checkpointPollMs,
    );
    const server = await startProjectionsBenchmarkServer({
      role: "commands",
      databaseUrl: config.databaseUrl,
      prefix,
      commandPoolSize: config.commandPoolSize,
      projectorPoolSize: options.projector === "together" ? config.projectorPoolSize : undefined,
    });
    const projector =
      options.projector === "apart"
        ? await startProjectionsBenchmarkServer({
            role: "projector",
            databaseUrl: config.databaseUrl,
            prefix,
            projectorPoolSize: config.projectorPoolSize,
          })
        : undefined;
    try {
      const requests: autocannon.Request[] = [
        { method: "POST", setupRequest: (request) => ({ ...request, ...pushes.next() }) },
      ];
      await waitUntilProjected(store, watcher);
      // Each account's first push reads its stream; later ones find its state in the API's cache.
      progress(`  warm-up: one push per account (${config.latencyAccounts}), not measured`);
      await autocannon({
        url: server.url,
        connections: options.connections,
        amount: config.latencyAccounts,
        requests,
      });
      await waitUntilProjected(store, watcher);
      progress(`  peak: closed loop, ${options.connections} connections, ${options.peakSeconds} s`);
      const peak = await autocannon({
        url: server.url,
        connections: options.connections,
        duration: options.peakSeconds,
        requests,
      });
      const peakRequestsPerSecond = peak.requests.average;
      const peakNon2xx = peak.non2xx + peak.errors + peak.timeouts;
      const backlogAfterPeak = await store.countAfter(await watcher.readLowest());
      const catchUpStartedAt = performance.now();
      await waitUntilProjected(store, watcher);
      const catchUpSeconds = (performance.now() - catchUpStartedAt) / 1000;
      const target = Math.max(1, Math.round((peakRequestsPerSecond * options.loadPercent) / 100));
      progress(
        `  peak ${Math.round(peakRequestsPerSecond)} req/s; steady open loop at ${target} req/s (${options.loadPercent}%) for ${options.seconds} s`,
      );
      watcher.start();
      const cpu = startLinuxCpuMeter(projector === undefined ? [server.pid] : [server.pid, projector.pid]);
      let unreadable = 0;
      const steady = await runOpenLoopLoad({
        url: server.url,
        requestsPerSecond: target,
        seconds: options.seconds,
        next: () => ({ method: "POST", ...pushes.next() }),
        onAnswer: (status, body, answeredAt) => {
          if (status < 200 || status >= 300) return;
          const position = parsePosition(String((JSON.parse(body) as { position?: unknown }).position));
          if (position === undefined) unreadable += 1;
          else watcher.observe(position, answeredAt);
        },
        drainTimeoutMs: DRAIN_TIMEOUT_MS,
      });
      const cpuReading = cpu();
      const neverProjected = await watcher.stop(DRAIN_TIMEOUT_MS);
      if (unreadable > 0) throw new Error(`${unreadable} command answers carried no position`);
      return {
        peakRequestsPerSecond,
        peakNon2xx,
        backlogAfterPeak,
        catchUpSeconds,
        targetRequestsPerSecond: target,
        achievedRequestsPerSecond: steady.succeeded / steady.seconds,
        sent: steady.sent,
        failed: steady.failed,
        projection: percentiles(watcher.latenciesMs),
        slowestBeforeEndMs: steady.lastSentAt - watcher.slowestAnsweredAt,
        neverProjected,
        command: percentiles(steady.latenciesMs),
        readInterval: percentiles(watcher.readIntervalsMs),
        cpu: cpuReading,
      };
    } finally {
      await server.stop();
      await projector?.stop();
    }
  } finally {
    await watcherClient.end().catch(() => undefined);
    await store.close();
    await dropSchemasWithPrefix(pool, prefix).catch(() => undefined);
    await pool.end();
  }
}

/** Opens the accounts through the real decider, appending in parallel chunks. */
async function openAccounts(store: PostgresEventStore, accountIds: readonly string[]): Promise<void> {
  const decider = accountDecider(await loadRules());
  const now = epochMsToInstant(Date.UTC(2025, 11, 31));
  const metadata = { correlationId: randomUUID(), actor: "bench" };
  for (let start = 0; start < accountIds.length; start += 500) {
    await Promise.all(
      accountIds.slice(start, start + 500).map((accountId) => {
        const decision = decider.decide(
          {
            type: "OpenAccount",
            data: {
              accountId,
              customerId: `customer-${accountId}`,
              phone: "+447911123456" as PhoneNumber,
              currency: "GBP",
              timeZone: "Europe/London" as TimeZone,
              consents: { service: true, marketing: false },
              now,
            },
          },
          decider.initialState(),
        );
        if (decision.outcome !== "accepted") throw new Error(`cannot open ${accountId}: ${decision.detail}`);
        return store.append(
          `account-${accountId}`,
          "no_stream",
          decision.events.map((event) => ({
            id: randomUUID(),
            type: event.type,
            data: event.data as unknown as JsonObject,
            metadata,
          })),
        );
      }),
    );
  }
}

/** Waits until every read model's live checkpoint has passed the last event in the log. */
async function waitUntilProjected(store: PostgresEventStore, watcher: LiveCheckpointWatcher): Promise<void> {
  const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const lowest = await watcher.readLowest();
    if ((await store.countAfter(lowest)) === 0) return;
    if (performance.now() > deadline) {
      throw new Error(`the projector did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s`);
    }
    await sleep(20);
  }
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}
