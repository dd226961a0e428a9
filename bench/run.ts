/**
 * Benchmark runner: `npm run bench -- <name> [flags]`. Exit status 0 on success, 1 when a
 * benchmark fails, 2 for a bad command line.
 */
import { UsageError } from "./shared/UsageError.ts";

interface Benchmark {
  readonly summary: string;
  /** The benchmark's flags and entry point, imported only when it is asked for (or for the usage). */
  load(): Promise<{ readonly flags: string; run(args: readonly string[]): Promise<void> }>;
}

const BENCHMARKS: ReadonlyMap<string, Benchmark> = new Map([
  [
    "eventstore",
    {
      summary: "Tidemark's PostgreSQL event store vs Emmett's vs raw pgbench inserts",
      load: async () => ({
        flags: (await import("./eventstore/parseEventStoreBenchmarkOptions.ts")).EVENT_STORE_BENCHMARK_FLAGS,
        run: (await import("./eventstore/eventStoreBenchmark.ts")).runEventStoreBenchmark,
      }),
    },
  ],
  [
    "commands",
    {
      summary: "POST record-balance through the command API vs a bare Koa handler doing one INSERT",
      load: async () => {
        const { COMMANDS_BENCHMARK_FLAGS, runCommandsBenchmark } =
          await import("./commands/commandsBenchmark.ts");
        return { flags: COMMANDS_BENCHMARK_FLAGS, run: runCommandsBenchmark };
      },
    },
  ],
  [
    "fanout",
    {
      summary: "the RabbitMQ relay: events/s published with confirms to a durable queue",
      load: async () => {
        const { FANOUT_BENCHMARK_FLAGS, runFanoutBenchmark } = await import("./fanout/fanoutBenchmark.ts");
        return { flags: FANOUT_BENCHMARK_FLAGS, run: runFanoutBenchmark };
      },
    },
  ],
  [
    "projections",
    {
      summary: "read models: full rebuild rate, answer → read model latency under load, cached queries",
      load: async () => ({
        flags: (await import("./projections/parseProjectionsBenchmarkOptions.ts"))
          .PROJECTIONS_BENCHMARK_FLAGS,
        run: (await import("./projections/projectionsBenchmark.ts")).runProjectionsBenchmark,
      }),
    },
  ],
  [
    "backtest",
    {
      summary:
        "a candidate rule set replayed over 1M recorded balances, beside a rebuild of every read model",
      load: async () => {
        const { BACKTEST_BENCHMARK_FLAGS, runBacktestBenchmark } =
          await import("./backtest/backtestBenchmark.ts");
        return { flags: BACKTEST_BENCHMARK_FLAGS, run: runBacktestBenchmark };
      },
    },
  ],
  [
    "pulls",
    {
      summary:
        "scheduled balance pulls against the Banking API simulator (50 ms): reads a second, read models' lag",
      load: async () => {
        const { PULLS_BENCHMARK_FLAGS, runPullBenchmark } = await import("./pulls/pullBenchmark.ts");
        return { flags: PULLS_BENCHMARK_FLAGS, run: runPullBenchmark };
      },
    },
  ],
  [
    "balances",
    {
      summary:
        "an end-of-day file of 1M balances imported as npm run balances -- import does, beside the same rows pushed one at a time and COPY of them",
      load: async () => ({
        flags: (await import("./balances/parseBalancesBenchmarkOptions.ts")).BALANCES_BENCHMARK_FLAGS,
        run: (await import("./balances/balanceImportBenchmark.ts")).runBalanceImportBenchmark,
      }),
    },
  ],
  [
    "console",
    {
      summary:
        "the operator console over 1M events: overview first render, a 1,000-event timeline, JavaScript size",
      load: async () => ({
        flags: (await import("./console/parseConsoleBenchmarkOptions.ts")).CONSOLE_BENCHMARK_FLAGS,
        run: (await import("./console/consoleBenchmark.ts")).runConsoleBenchmark,
      }),
    },
  ],
]);

async function usage(): Promise<string> {
  const entries = await Promise.all(
    [...BENCHMARKS].map(
      async ([name, benchmark]) =>
        `  ${name.padEnd(12)} ${benchmark.summary}\n${(await benchmark.load()).flags}`,
    ),
  );
  return `usage: npm run bench -- <benchmark> [flags]\n\nbenchmarks:\n${entries.join("\n\n")}\n`;
}

async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  const benchmark = name === undefined ? undefined : BENCHMARKS.get(name);
  if (benchmark === undefined) {
    process.stderr.write(
      `${name === undefined ? "missing benchmark name" : `unknown benchmark: ${name}`}\n\n`,
    );
    process.stderr.write(await usage());
    return 2;
  }
  try {
    await (await benchmark.load()).run(rest);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${await usage()}`);
      return 2;
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`benchmark ${name} failed: ${detail}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
