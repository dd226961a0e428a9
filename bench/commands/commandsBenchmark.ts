import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import pg from "pg";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { pino } from "pino";
import { BENCH_API_KEY, BENCH_SCHEMA } from "./commandsBenchmarkSettings.ts";
import { UsageError } from "../shared/UsageError.ts";

export const COMMANDS_BENCHMARK_FLAGS = `    --seconds N      measured seconds per run (default 10)
    --runs N         runs per system; the median is reported (default 3)
    --connections N  concurrent connections (default 64)
    --accounts N     accounts the pushes are spread over (default 5000)
    --tracing 1      compare the command API with OpenTelemetry tracing on (exporting OTLP to a
                     local receiver) and off, instead of Tidemark against bare Koa`;

interface Options {
  readonly seconds: number;
  readonly runs: number;
  readonly connections: number;
  readonly accounts: number;
  readonly tracing: number;
}

interface RunResult {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
}

function parseOptions(args: readonly string[]): Options {
  const options = { seconds: 10, runs: 3, connections: 64, accounts: 5000, tracing: 0 };
  for (let index = 0; index < args.length; index += 2) {
    const flag = args[index];
    const value = Number(args[index + 1]);
    const key = flag?.replace(/^--/, "") as keyof typeof options | undefined;
    if (
      key === undefined ||
      !(key in options) ||
      !Number.isInteger(value) ||
      value < (key === "tracing" ? 0 : 1)
    ) {
      throw new UsageError(`bad flag: ${flag ?? ""} ${args[index + 1] ?? ""}`);
    }
    options[key] = value;
  }
  return options;
}

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://tidemark:tidemark@127.0.0.1:5432/tidemark";

/**
 * `npm run bench -- commands`: POST record-balance at 64 connections against the real command
 * API, side by side with a bare Koa handler doing one INSERT per request, on the same PostgreSQL.
 */
export async function runCommandsBenchmark(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  const systems: readonly System[] = options.tracing === 1 ? ["tidemark", "traced"] : ["tidemark", "bare"];
  const results: Record<System, RunResult[]> = { tidemark: [], bare: [], traced: [] };
  const receiver = options.tracing === 1 ? await startOtlpSink() : undefined;
  try {
    for (let run = 1; run <= options.runs; run += 1) {
      for (const system of systems) {
        await resetSchema(pool, options.accounts);
        const server = await startServer(system, receiver?.url);
        try {
          process.stderr.write(`[commands] ${system} run ${run}/${options.runs}\n`);
          const result = await load(server.port, options);
          process.stderr.write(
            `[commands]   ${Math.round(result.requestsPerSecond)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors}, non-2xx ${result.non2xx}\n`,
          );
          results[system].push(result);
        } finally {
          server.process.kill("SIGTERM");
          await once(server.process, "exit");
        }
      }
    }
  } finally {
    await pool.end();
    receiver?.server.close();
  }
  if (receiver !== undefined) {
    process.stderr.write(`[commands] the receiver took ${receiver.requests()} OTLP export requests\n`);
  }
  process.stdout.write(options.tracing === 1 ? tracingReport(results, options) : report(results, options));
}

type System = "tidemark" | "bare" | "traced";

/** Where the traced server exports: an OTLP/HTTP endpoint that takes every batch and keeps none. */
async function startOtlpSink(): Promise<{ url: string; server: Server; requests: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      requests += 1;
      response.writeHead(200).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    server,
    requests: () => requests,
  };
}

async function resetSchema(pool: pg.Pool, accounts: number): Promise<void> {
  await pool.query(`drop schema if exists "${BENCH_SCHEMA}" cascade`);
  await PostgresEventStore.migrate(pool, BENCH_SCHEMA);
  await new IdempotencyStore(pool, BENCH_SCHEMA, pino({ level: "silent" })).migrate();
  await pool.query(
    `create table "${BENCH_SCHEMA}".bare_balances (id bigserial primary key, account_id text not null, data jsonb not null)`,
  );
  // Accounts exist before the pushes, opened through the store so the streams are real.
  const store = new PostgresEventStore(pool, { schema: BENCH_SCHEMA });
  const openedAt = new Date().toISOString();
  for (let start = 0; start < accounts; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, accounts - start) }, (_, offset) => {
        const accountId = `bench-${start + offset}`;
        return store.append(`account-${accountId}`, "no_stream", [
          {
            id: crypto.randomUUID(),
            type: "AccountOpened",
            data: {
              accountId,
              customerId: "bench",
              phone: "+447911123456",
              currency: "GBP",
              timeZone: "Europe/London",
              consents: { service: true, marketing: false },
              openedAt,
            },
            metadata: { correlationId: "bench", actor: "bench" },
          },
        ]);
      }),
    );
  }
  await store.close();
}

async function startServer(
  system: System,
  otlpUrl: string | undefined,
): Promise<{ process: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    system === "traced"
      ? ["--import", "tsx", "bench/commands/tracedCommandsBenchmarkServer.ts", "tidemark", DATABASE_URL]
      : ["--import", "tsx", "bench/commands/commandsBenchmarkServer.ts", system, DATABASE_URL],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env:
        system === "traced" ? { ...process.env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl } : process.env,
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const match = /^ready (\d+)$/.exec(line);
    if (match?.[1] !== undefined) return { process: child, port: Number(match[1]) };
  }
  throw new Error(`${system} server exited before it was ready`);
}

async function load(port: number, options: Options): Promise<RunResult> {
  let sequence = 0;
  // An hour back, a millisecond a push: inside the bounds the command API accepts around its clock.
  const base = Date.now() - 3_600_000;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: options.connections,
    duration: options.seconds,
    requests: [
      {
        method: "POST",
        setupRequest: (request) => {
          sequence += 1;
          const account = sequence % options.accounts;
          // Each push is newer than the last for its account, so every one is recorded.
          const referenceTime = new Date(base + sequence).toISOString();
          return {
            ...request,
            path: `/accounts/bench-${account}/balances`,
            headers: { "content-type": "application/json", authorization: `Bearer ${BENCH_API_KEY}` },
            body: JSON.stringify({
              amount: `${(sequence % 900) + 100}.00`,
              currency: "GBP",
              balanceType: "InterimAvailable",
              creditLineIncluded: false,
              referenceTime,
            }),
          };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const rate = (runs: RunResult[]) => median(runs.map((run) => run.requestsPerSecond));
const line = (name: string, runs: RunResult[]) =>
  `| ${name} | ${Math.round(rate(runs)).toLocaleString("en")} | ${median(runs.map((run) => run.p50))} | ${median(runs.map((run) => run.p99))} | ${runs.map((run) => Math.round(run.requestsPerSecond).toLocaleString("en")).join(" · ")} | ${runs.reduce((sum, run) => sum + run.errors + run.non2xx, 0)} |`;

function tracingReport(results: Record<System, RunResult[]>, options: Options): string {
  const cost = 1 - rate(results.traced) / rate(results.tidemark);
  return [
    `## Command API with tracing on and off, ${new Date().toISOString()}`,
    "",
    `POST /accounts/{id}/balances at ${options.connections} connections for ${options.seconds} s, ${options.runs} runs each (median, alternating); tracing on: the OpenTelemetry SDK with the http, pg and undici instrumentations, sampler ${process.env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on"}${process.env.OTEL_TRACES_SAMPLER_ARG === undefined ? " (every request)" : ` ${process.env.OTEL_TRACES_SAMPLER_ARG}`}, batches exported over OTLP/HTTP to a receiver in the benchmark's process. Node ${process.version} (the server runs on the benchmark's own binary).`,
    "",
    "| command API | req/s (median) | p50 ms | p99 ms | runs req/s | errors + non-2xx |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    line("tracing off", results.tidemark),
    line("tracing on, exporting", results.traced),
    "",
    `Throughput cost of tracing: ${(cost * 100).toFixed(1)}% (goal ≤ 15%: ${cost <= 0.15 ? "met" : "**not met**"})`,
    "",
  ].join("\n");
}

function report(results: Record<System, RunResult[]>, options: Options): string {
  const ratio = rate(results.tidemark) / rate(results.bare);
  const tidemarkP99 = median(results.tidemark.map((run) => run.p99));
  return [
    `## Command API benchmark, ${new Date().toISOString()}`,
    "",
    `POST /accounts/{id}/balances at ${options.connections} connections for ${options.seconds} s, ${options.runs} runs per system (median), pushes spread over ${options.accounts} accounts; the server runs in its own process, on Node ${process.version}.`,
    "",
    "| system | req/s (median) | p50 ms | p99 ms | runs req/s | errors + non-2xx |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    line("Tidemark command API", results.tidemark),
    line("bare Koa + one INSERT", results.bare),
    "",
    `Tidemark / bare: ${ratio.toFixed(2)}×`,
    "",
    `Goals: ≥ 6,000 req/s — ${rate(results.tidemark) >= 6000 ? "met" : "**not met**"}; p99 < 15 ms — ${tidemarkP99 < 15 ? "met" : "**not met**"}; ≥ 0.6× bare — ${ratio >= 0.6 ? "met" : "**not met**"}`,
    "",
  ].join("\n");
}
