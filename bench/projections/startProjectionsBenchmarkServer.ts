import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ProjectionsBenchmarkServerRequest } from "./ProjectionsBenchmarkServerRequest.ts";

const SERVER_ENTRY = fileURLToPath(new URL("./projectionsBenchmarkServer.ts", import.meta.url));
const STOP_TIMEOUT_MS = 15_000;

/** A benchmark server in a process of its own. */
export interface RunningBenchmarkServer {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, and the wait for a clean exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

/**
 * Starts `projectionsBenchmarkServer.ts` in a child process and resolves once it listens. Its
 * stderr goes to ours (progress, projector messages). `BENCH_SERVER_NODE_ARGS` adds Node options
 * to the child only, e.g. `--cpu-prof --cpu-prof-dir=prof` (NODE_OPTIONS refuses `--cpu-prof`).
 * @throws Error when the child exits before it is ready.
 */
export async function startProjectionsBenchmarkServer(
  request: ProjectionsBenchmarkServerRequest,
): Promise<RunningBenchmarkServer> {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter((arg) => arg !== "");
  const child = spawn(
    process.execPath,
    [...nodeArgs, "--import", "tsx", SERVER_ENTRY, JSON.stringify(request)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const match = /^ready (\d+)$/.exec(line);
    if (match?.[1] !== undefined) {
      return { url: `http://127.0.0.1:${match[1]}`, pid: child.pid ?? 0, stop: () => stop(child) };
    }
  }
  throw new Error(`the ${request.role} server exited before it was ready`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
