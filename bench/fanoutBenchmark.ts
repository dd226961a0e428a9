import { execFileSync } from "node:child_process";
import os from "node:os";
import { performance } from "node:perf_hooks";
import amqp from "amqplib";
import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import type { Position } from "../gateways/eventStore/Position.ts";
import { EVENTS_EXCHANGE } from "../gateways/fanout/amqpTopology.ts";
import { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import { runAmqpRelay } from "../gateways/fanout/runAmqpRelay.ts";
import { ensureBenchmarkEventLog } from "./ensureBenchmarkEventLog.ts";
import { parseBenchmarkFlags, wholeNumber } from "./parseFlagValues.ts";

export const FANOUT_BENCHMARK_FLAGS = `  --events N        events relayed per run, from the projections benchmark's log (default 200000)
  --runs N          runs; the report shows the median (default 3)
  --window N        events published before waiting for confirms (default: the relay's, 2000)`;

const LOG_SCHEMA = "bench_projections";
const QUEUE = "bench.fanout";

/**
 * `npm run bench -- fanout`: the relay's throughput. Each run relays the first `--events` events
 * of the projections benchmark's log (generated if missing, 1,000,000 events) from position zero
 * to a durable queue bound to every routing key, persistent messages over a confirm channel, and
 * times from the relay's start until its checkpoint (moved only after the broker's confirms)
 * passes the last of them. The queue is purged between runs. Balance → SMS latency needs the SMS
 * gateway (not built yet) and is not measured.
 */
export async function runFanoutBenchmark(args: readonly string[]): Promise<void> {
  const values = parseBenchmarkFlags(args, {
    events: { type: "string", default: "200000" },
    runs: { type: "string", default: "3" },
    window: { type: "string", default: "2000" },
  });
  const events = wholeNumber("--events", values.events, 1000);
  const runs = wholeNumber("--runs", values.runs, 1);
  const window = wholeNumber("--window", values.window, 1);
  const databaseUrl = process.env.DATABASE_URL ?? "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";
  const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const progress = (message: string) => process.stderr.write(`[fanout] ${message}\n`);
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
        log: () => undefined,
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
        `run ${run}/${runs}: ${events} events in ${seconds.toFixed(2)} s = ${Math.round(events / seconds)} events/s`,
      );
      await pool.query(`drop schema if exists "bench_fanout_${run}" cascade`);
    }
    await channel.deleteQueue(QUEUE);
    const sorted = [...rates].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    const cpus = os.cpus();
    const lines = [
      `#### Fan-out benchmark, ${new Date().toISOString()}`,
      "",
      `- Machine: ${cpus.length} cores (${cpus[0]?.model ?? "unknown"}), Node ${process.version}; code ${commit()}`,
      `- Broker: ${rabbitVersion()} on the same machine; one durable queue bound to \`#\`, persistent messages`,
      `- Relay: \`runAmqpRelay\`, window ${window} events per confirm round, from position zero of \`${log.schema}\` (${log.events.toLocaleString("en-US")} events); a run ends when its checkpoint passes event ${events.toLocaleString("en-US")}`,
      "",
      "| measurement | result (median) | runs | goal | met? |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| relay, confirmed to a durable queue (events/s) | ${Math.round(median).toLocaleString("en-US")} | ${rates.map((rate) => Math.round(rate).toLocaleString("en-US")).join(" · ")} | ≥ 15,000 | ${median >= 15_000 ? "met" : "**not met**"} |`,
      "| balance pushed → SMS accepted, p99 (ms) | not measured: no SMS gateway yet | | < 100 | — |",
      "",
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    await store.close();
  } finally {
    await connection.close().catch(() => undefined);
    await pool.end();
  }
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
