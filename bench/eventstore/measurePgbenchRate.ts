import { spawn } from "node:child_process";

export interface PgbenchRun {
  readonly databaseUrl: string;
  /** A pgbench custom script (`-f`). */
  readonly scriptPath: string;
  readonly clients: number;
  /** Whole seconds: pgbench's `-T` takes nothing finer. */
  readonly seconds: number;
}

/**
 * What a pgbench run gave: a rate, or nothing at all, which a short run with many clients can
 * (every client still connecting when `-T` ends: pgbench then prints no rate, and "NaN%").
 */
export type PgbenchOutcome =
  | { readonly kind: "measured"; readonly transactionsPerSecond: number }
  | { readonly kind: "nothing completed"; readonly output: string };

const TPS_LINE = /^tps = ([0-9.]+) \(without initial connection time\)$/m;
const PROCESSED_LINE = /^number of transactions actually processed: (\d+)/m;

/**
 * Runs pgbench and returns its transactions per second. Prepared statements (`-M prepared`)
 * give the raw ceiling its best case; `-n` skips the vacuum of pgbench's own tables, which this
 * script does not use.
 * @throws Error with pgbench's output when pgbench fails (exit status other than 0).
 */
export async function measurePgbenchRate(run: PgbenchRun): Promise<PgbenchOutcome> {
  const url = new URL(run.databaseUrl);
  const args = [
    ...["-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username)],
    ...["-n", "-M", "prepared", "-f", run.scriptPath],
    ...["-c", String(run.clients), "-j", String(run.clients > 1 ? 2 : 1), "-T", String(run.seconds)],
    decodeURIComponent(url.pathname.slice(1)),
  ];
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
  const { code, output } = await runCommand("pgbench", args, env);
  if (code !== 0) throw new Error(`pgbench ${args.join(" ")} failed (exit ${code}):\n${output}`);
  const tps = TPS_LINE.exec(output)?.[1];
  const processed = Number(PROCESSED_LINE.exec(output)?.[1] ?? 0);
  if (tps === undefined || processed === 0) return { kind: "nothing completed", output };
  return { kind: "measured", transactionsPerSecond: Number(tps) };
}

function runCommand(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (error) =>
      reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error })),
    );
    child.on("close", (code) => resolve({ code, output }));
  });
}
