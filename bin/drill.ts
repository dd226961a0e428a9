import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DrillResources } from "./drill/DrillResources.ts";
import { formatDrillReport } from "./drill/formatDrillReport.ts";
import { runFailoverDrill, type FailoverDrillReport } from "./drill/failoverDrill.ts";
import { POSTGRES_BIN_DIRECTORY, type ReplicationMode } from "./drill/PostgresCluster.ts";
import { runCommandLine, UsageError } from "./commandLine.ts";

const USAGE = `Usage: npm run drill -- [options]

The failover drill (ops/dr/README.md): a PostgreSQL primary and a streaming replica of its own,
a preloaded log, a steady command workload, the primary killed hard, the replica promoted,
Tidemark pointed at it, the read models replayed and verified, new commands accepted.
Prints RPO, RTO and the read models' digests.

Options:
  --mode <m>          synchronous | asynchronous | both (default both)
  --events <n>        events preloaded into the primary's log (default 100000)
  --seconds <s>       seconds of command workload before the kill (default 10)
  --rate <n>          workload commands per second, 0 for as fast as answered (default 1000)
  --concurrency <n>   workload clients (default 16)
  --link-delay-ms <n> the WAL stream's delay from primary to replica, lost at the kill with the
                      primary's host (default 10; 0: plain loopback)
  --directory <dir>   where the clusters go, removed afterwards (default /tmp)
  --json              the reports as JSON on stdout (progress stays on stderr)
  -h, --help          this text

Needs PostgreSQL's server binaries in POSTGRES_BIN_DIR (default ${POSTGRES_BIN_DIRECTORY}).
Exit status: 0 every check passed (synchronous: RPO 0; both: read models equal, new commands
accepted after the failover), 1 a check failed or the drill broke, 2 bad usage.`;

interface Invocation {
  readonly modes: readonly ReplicationMode[];
  readonly events: number;
  readonly seconds: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly linkDelayMs: number;
  readonly directory: string;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      mode: { type: "string", default: "both" },
      events: { type: "string", default: "100000" },
      seconds: { type: "string", default: "10" },
      rate: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "16" },
      "link-delay-ms": { type: "string", default: "10" },
      directory: { type: "string", default: "/tmp" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  const modes: Record<string, readonly ReplicationMode[]> = {
    synchronous: ["synchronous"],
    asynchronous: ["asynchronous"],
    both: ["synchronous", "asynchronous"],
  };
  const chosen = modes[values.mode];
  if (chosen === undefined) throw new UsageError("--mode must be synchronous, asynchronous or both");
  const whole = (name: string, text: string, min: number, max: number) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
  return {
    modes: chosen,
    events: whole("events", values.events, 1, 100_000_000),
    seconds: whole("seconds", values.seconds, 1, 3600),
    rate: whole("rate", values.rate, 0, 1_000_000),
    concurrency: whole("concurrency", values.concurrency, 1, 1000),
    linkDelayMs: whole("link-delay-ms", values["link-delay-ms"], 0, 10_000),
    directory: values.directory,
    json: values.json,
  };
}

async function run(invocation: Invocation): Promise<number> {
  if (!existsSync(join(POSTGRES_BIN_DIRECTORY, "pg_ctl"))) {
    console.error(
      `drill: no PostgreSQL server binaries in ${POSTGRES_BIN_DIRECTORY} (set POSTGRES_BIN_DIR, or run npm run services)`,
    );
    return 2;
  }

  // Ctrl-C: kill the drill's servers and processes now (every step then fails fast), let the
  // drill's own clean-up finish, exit 130. A second Ctrl-C exits at once.
  let current: DrillResources | undefined;
  const interruption = new AbortController();
  const interrupted = () => interruption.signal.aborted;
  const interrupt = (signal: NodeJS.Signals) => {
    interruption.abort();
    console.error(`\ndrill: ${signal}: stopping the drill's processes and removing its clusters…`);
    void current?.releaseAll();
    setTimeout(() => process.exit(130), 60_000).unref();
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);

  const reports: FailoverDrillReport[] = [];
  let broken = false;
  for (const mode of invocation.modes) {
    if (interrupted()) break;
    current = new DrillResources();
    try {
      reports.push(
        await runFailoverDrill({
          mode,
          events: invocation.events,
          workloadSeconds: invocation.seconds,
          rate: invocation.rate,
          concurrency: invocation.concurrency,
          linkDelayMs: invocation.linkDelayMs,
          directory: invocation.directory,
          resources: current,
          progress: (message) => console.error(message),
        }),
      );
    } catch (error) {
      if (interrupted()) break;
      broken = true;
      console.error(
        `drill (${mode}) broke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
  }
  if (interrupted()) {
    for (const failure of (await current?.releaseAll()) ?? []) console.error(`drill: cleanup: ${failure}`);
    return 130;
  }
  if (invocation.json) console.log(JSON.stringify(reports, null, 2));
  else if (reports.length > 0) console.log(formatDrillReport(reports));
  return !broken && reports.every((report) => report.passed) ? 0 : 1;
}

await runCommandLine({
  name: "drill",
  usage: USAGE,
  parse: parseInvocation,
  // Everything it needs is on its command line: it runs clusters and processes of its own.
  configure: () => undefined,
  run,
});
