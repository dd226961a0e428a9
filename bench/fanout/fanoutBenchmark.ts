import pino from "pino";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { performance } from "node:perf_hooks";
import amqp from "amqplib";
import pg from "pg";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import type { Position } from "../../gateways/eventStore/Position.ts";
import { EVENTS_EXCHANGE } from "../../gateways/fanout/amqpTopology.ts";
import { FanoutCheckpoints } from "../../gateways/fanout/FanoutCheckpoints.ts";
import { runAmqpRelay } from "../../gateways/fanout/runAmqpRelay.ts";
import { createIsolatedVirtualHost } from "../../test/isolatedServices.ts";
import { ensureBenchmarkEventLog } from "../shared/ensureBenchmarkEventLog.ts";
import {
  BALANCE_TO_SMS_ROLES,
  measureBalanceToSms,
  type BalanceToSmsRun,
  type FanoutMode,
} from "./measureBalanceToSms.ts";
import { chosenNames, parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";
import { UsageError } from "../shared/UsageError.ts";

export const FANOUT_BENCHMARK_FLAGS = `  --only LIST       relay, latency (comma-separated; default both)
  --runs N          runs of each measurement; the report shows the median (default 3)
  --events N        events relayed per relay run, from the projections benchmark's log (default 200000)
  --window N        events published before waiting for confirms (default: the relay's, 2000)
  --rate N          balance pushes per second in a latency run, one SMS each (default 50)
  --seconds N       measured seconds per latency run, after 5 s of warm-up (default 20)
  --modes LIST      latency through rabbitmq, in-process (comma-separated; default both)`;

const MEASUREMENTS = ["relay", "latency"] as const;
const MODES: readonly FanoutMode[] = ["rabbitmq", "in-process"];
const WARMUP_SECONDS = 5;

const LOG_SCHEMA = "bench_projections";
const QUEUE = "bench.fanout";

/**
 * `npm run bench -- fanout`: the relay's throughput, and the latency from a balance pushed to its
 * SMS accepted by the provider under a steady load.
 *
 * Relay: each run relays the first `--events` events of the projections benchmark's log
 * (generated if missing, 1,000,000 events) from position zero to a durable queue bound to every
 * routing key, persistent messages over a confirm channel, and times from the relay's start until
 * its checkpoint (moved only after the broker's confirms) passes the last of them.
 *
 * Latency: see `measureBalanceToSms` — the whole system in a child process, one SMS per push.
 */
export async function runFanoutBenchmark(args: readonly string[]): Promise<void> {
  const values = parseBenchmarkFlags(args, {
    only: { type: "string", default: MEASUREMENTS.join(",") },
    events: { type: "string", default: "200000" },
    runs: { type: "string", default: "3" },
    window: { type: "string", default: "2000" },
    rate: { type: "string", default: "50" },
    seconds: { type: "string", default: "20" },
    modes: { type: "string", default: MODES.join(",") },
  });
  const only = chosenNames(values.only, MEASUREMENTS);
  const runs = wholeNumber("--runs", values.runs, 1);
  const progress = (message: string) => process.stderr.write(`[fanout] ${message}\n`);
  const cpus = os.cpus();
  const lines = [
    `#### Fan-out benchmark, ${new Date().toISOString()}`,
    "",
    `- Machine: ${cpus.length} cores (${cpus[0]?.model ?? "unknown"}), Node ${process.version}; code ${commit()}; ${rabbitVersion()} and PostgreSQL on the same machine`,
  ];
  const rows: string[] = [];
  if (only.includes("relay")) {
    const relay = await measureRelay({
      events: wholeNumber("--events", values.events, 1000),
      window: wholeNumber("--window", values.window, 1),
      runs,
      progress,
    });
    lines.push(relay.setting);
    rows.push(
      `| relay, confirmed to a durable queue (events/s) | ${Math.round(relay.median).toLocaleString("en-US")} | ${relay.rates.map((rate) => Math.round(rate).toLocaleString("en-US")).join(" · ")} | ≥ 15,000 | ${relay.median >= 15_000 ? "met" : "**not met**"} |`,
    );
  }
  if (only.includes("latency")) {
    const rate = wholeNumber("--rate", values.rate, 1);
    const seconds = wholeNumber("--seconds", values.seconds, 1);
    const modes = chosenModes(values.modes);
    lines.push(
      `- Balance → SMS: the system as \`npm start -- ${BALANCE_TO_SMS_ROLES.join(" ")}\` in a child process on a fresh database (and RabbitMQ virtual host), one SMS provider simulator in the benchmark's process; ${rate} balance pushes/s open loop, each to a fresh account crossing low-balance (one SMS each); ${WARMUP_SECONDS} s warm-up, then ${seconds} s measured from the push request to the simulator creating the message`,
    );
    for (const mode of modes) {
      const measured: BalanceToSmsRun[] = [];
      for (let run = 1; run <= runs; run += 1) {
        const result = await measureBalanceToSms({
          mode,
          rate,
          seconds,
          warmupSeconds: WARMUP_SECONDS,
          log: progress,
        });
        progress(
          `${mode} run ${run}/${runs}: p50 ${result.latency.p50.toFixed(1)} ms, p99 ${result.latency.p99.toFixed(1)} ms, max ${result.latency.max.toFixed(1)} ms; ${result.accepted}/${result.pushed} SMS`,
        );
        measured.push(result);
      }
      const p50 = median(measured.map((run) => run.latency.p50));
      const p99 = median(measured.map((run) => run.latency.p99));
      const complete = measured.every((run) => run.accepted === run.pushed);
      const each = (pick: (run: BalanceToSmsRun) => number) =>
        measured.map((run) => pick(run).toFixed(1)).join(" · ");
      rows.push(
        `| balance pushed → SMS accepted, ${mode}, p50 (ms) | ${p50.toFixed(1)} | ${each((run) => run.latency.p50)} | — | — |`,
        `| balance pushed → SMS accepted, ${mode}, p99 (ms) | ${p99.toFixed(1)} | ${each((run) => run.latency.p99)} | < 100 | ${p99 < 100 && complete ? "met" : "**not met**"} |`,
        `| SMS accepted / balances pushed, ${mode} | ${measured.map((run) => `${run.accepted}/${run.pushed}`).join(" · ")} | | all | ${complete ? "met" : "**not met**"} |`,
      );
    }
  }
  lines.push(
    "",
    "| measurement | result (median) | runs | goal | met? |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** The relay runs; the setting line for the report and the rates. */
async function measureRelay(options: {
  readonly events: number;
  readonly window: number;
  readonly runs: number;
  readonly progress: (message: string) => void;
}): Promise<{ readonly setting: string; readonly rates: number[]; readonly median: number }> {
  const { events, window, runs, progress } = options;
  const databaseUrl = process.env.DATABASE_URL ?? "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
  // A virtual host of its own: queues left elsewhere on the broker (bound to the events
  // exchange, filling up) would make it do more than this benchmark asks.
  const vhost = await createIsolatedVirtualHost(`tidemark_bench_relay_${randomBytes(4).toString("hex")}`);
  const { amqpUrl } = vhost;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const connection = await amqp.connect(amqpUrl);
  try {
    const log = await ensureBenchmarkEventLog(pool, LOG_SCHEMA, Math.max(events, 1_000_000), false, progress);
    const store = new PostgresEventStore(pool, { schema: LOG_SCHEMA });
    const target = await positionOfEvent(pool, events);
    const channel = await connection.createChannel();
    await channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
    await channel.assertQueue(QUEUE, { durable: true });
    await channel.bindQueue(QUEUE, EVENTS_EXCHANGE, "#");
    const rates: number[] = [];
    for (let run = 1; run <= runs; run += 1) {
      await channel.purgeQueue(QUEUE);
      const checkpoints = new FanoutCheckpoints(pool, `bench_fanout_${run}`);
      await pool.query(`drop schema if exists "bench_fanout_${run}" cascade`);
      await checkpoints.migrate();
      const controller = new AbortController();
      let reachedAt: number | undefined;
      const startedAt = performance.now();
      const relay = runAmqpRelay({
        pool,
        store,
        checkpoints,
        amqpUrl,
        signal: controller.signal,
        window,
        logger: pino({ level: "silent" }),
        onPublished: ({ position }) => {
          if (reachedAt === undefined && position >= target) {
            reachedAt = performance.now();
            controller.abort();
          }
        },
      });
      await relay;
      const seconds = ((reachedAt ?? performance.now()) - startedAt) / 1000;
      rates.push(events / seconds);
      progress(
        `relay run ${run}/${runs}: ${events} events in ${seconds.toFixed(2)} s = ${Math.round(events / seconds)} events/s`,
      );
      await pool.query(`drop schema if exists "bench_fanout_${run}" cascade`);
    }
    await channel.deleteQueue(QUEUE);
    await store.close();
    return {
      setting: `- Relay: \`runAmqpRelay\`, window ${window} events per confirm round, from position zero of \`${log.schema}\` (${log.events.toLocaleString("en-US")} events) to one durable queue bound to \`#\` in a virtual host of its own, persistent messages; a run ends when its checkpoint passes event ${events.toLocaleString("en-US")}`,
      rates,
      median: median(rates),
    };
  } finally {
    await connection.close().catch(() => undefined);
    await pool.end();
    await vhost.drop(progress);
  }
}

function chosenModes(text: string): FanoutMode[] {
  const names = text.split(",").map((name) => name.trim());
  const unknown = names.filter((name) => !MODES.some((mode) => mode === name));
  if (unknown.length > 0) throw new UsageError(`--modes takes ${MODES.join(", ")}, not "${text}"`);
  return MODES.filter((mode) => names.includes(mode));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The position of the `n`-th event of the benchmark log. */
async function positionOfEvent(pool: pg.Pool, n: number): Promise<Position> {
  const { rows } = await pool.query<{ position: string }>(
    `select lpad(to_hex(transaction_order), 16, '0') || '-' || lpad(to_hex(global_position), 16, '0') as position
     from "${LOG_SCHEMA}".events order by transaction_order, global_position offset $1 limit 1`,
    [n - 1],
  );
  const position = rows[0]?.position;
  if (position === undefined) throw new Error(`the log holds fewer than ${n} events`);
  return position as Position;
}

function commit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function rabbitVersion(): string {
  try {
    return `RabbitMQ ${execFileSync("rabbitmqctl", ["version"], { encoding: "utf8" }).trim()}`;
  } catch {
    return "RabbitMQ (version unknown)";
  }
}
