import { spawn } from "node:child_process";
import { z } from "zod";
import { builtEntryPoint } from "../builtEntryPoint.ts";

const REPOSITORY = new URL("../..", import.meta.url).pathname;

const digestOutput = z.array(
  z.union([
    z.object({
      projection: z.string(),
      build: z.string(),
      position: z.string(),
      digest: z.string(),
      rows: z.record(z.string(), z.number()),
    }),
    z.object({ projection: z.string(), error: z.string() }),
  ]),
);

const rebuildOutput = z.object({
  seconds: z.number(),
  eventsRead: z.number(),
  eventsPerSecond: z.number(),
  results: z.array(
    z.union([
      z.object({
        projection: z.string(),
        outcome: z.literal("swapped"),
        buildSchema: z.string(),
        replaced: z.string().nullable(),
        position: z.string(),
        digest: z.object({ digest: z.string(), rows: z.record(z.string(), z.number()) }),
        verifiedAgainstLive: z.boolean(),
      }),
      z.object({
        projection: z.string(),
        outcome: z.literal("failed"),
        buildSchema: z.string(),
        error: z.string(),
      }),
      z.object({ projection: z.string(), outcome: z.literal("stopped"), buildSchema: z.string() }),
    ]),
  ),
});

/** `verify --all --json`: each live read model's digest at its checkpoint, or why there is none. */
export type ReadModelDigests = z.infer<typeof digestOutput>;

/** `rebuild --all --json`: how long, how many events, and how each projection's swap ended. */
export type RebuildReport = z.infer<typeof rebuildOutput>;

/**
 * The projection CLI (`npm run projections`) run as an operator runs it in a failover: a child
 * process with DATABASE_URL pointing at the new primary, `--json` on stdout. A non-zero exit is
 * not thrown: its JSON says which projection failed or differs, and the drill reports it.
 */
export class ProjectionsCli {
  readonly #databaseUrl: string;
  readonly #signal: AbortSignal | undefined;

  constructor(databaseUrl: string, signal?: AbortSignal) {
    this.#databaseUrl = databaseUrl;
    this.#signal = signal;
  }

  async verify(): Promise<ReadModelDigests> {
    return digestOutput.parse(JSON.parse(await this.#run(["verify", "--all", "--json"])));
  }

  async rebuild(): Promise<RebuildReport> {
    return rebuildOutput.parse(JSON.parse(await this.#run(["rebuild", "--all", "--json"])));
  }

  /** Runs the CLI; its stdout, unless it printed nothing parseable (then its stderr is the error). */
  async #run(args: readonly string[]): Promise<string> {
    const child = spawn(process.execPath, [...builtEntryPoint("projections"), ...args], {
      cwd: REPOSITORY,
      env: {
        ...Object.fromEntries(
          ["PATH", "HOME", "TMPDIR", "LANG"].flatMap((name) =>
            process.env[name] === undefined ? [] : [[name, process.env[name]]],
          ),
        ),
        DATABASE_URL: this.#databaseUrl,
      },
      stdio: ["ignore", "pipe", "pipe"],
      ...(this.#signal === undefined ? {} : { signal: this.#signal }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    if (code !== 0 && code !== 1) {
      throw new Error(`projections ${args.join(" ")} exited ${code}: ${stderr.trim() || stdout.trim()}`);
    }
    if (!stdout.trimStart().startsWith("[") && !stdout.trimStart().startsWith("{")) {
      throw new Error(`projections ${args.join(" ")} printed no JSON: ${stderr.trim()}`);
    }
    return stdout;
  }
}
