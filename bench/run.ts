/**
 * Benchmark runner: `npm run bench -- <name> [flags]`. Exit status 0 on success, 1 when a
 * benchmark fails, 2 for a bad command line.
 */
import { COMMANDS_BENCHMARK_FLAGS, runCommandsBenchmark } from "./commandsBenchmark.ts";
import { runEventStoreBenchmark } from "./eventStoreBenchmark.ts";
import { EVENT_STORE_BENCHMARK_FLAGS } from "./parseEventStoreBenchmarkOptions.ts";
import { UsageError } from "./UsageError.ts";

interface Benchmark {
  readonly summary: string;
  readonly flags: string;
  run(args: readonly string[]): Promise<void>;
}

const BENCHMARKS: ReadonlyMap<string, Benchmark> = new Map([
  [
    "eventstore",
    {
      summary: "Tidemark's PostgreSQL event store vs Emmett's vs raw pgbench inserts",
      flags: EVENT_STORE_BENCHMARK_FLAGS,
      run: runEventStoreBenchmark,
    },
  ],
  [
    "commands",
    {
      summary: "POST record-balance through the command API vs a bare Koa handler doing one INSERT",
      flags: COMMANDS_BENCHMARK_FLAGS,
      run: runCommandsBenchmark,
    },
  ],
]);

function usage(): string {
  const entries = [...BENCHMARKS].map(
    ([name, benchmark]) => `  ${name.padEnd(12)} ${benchmark.summary}\n${benchmark.flags}`,
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
    process.stderr.write(usage());
    return 2;
  }
  try {
    await benchmark.run(rest);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${usage()}`);
      return 2;
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`benchmark ${name} failed: ${detail}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
