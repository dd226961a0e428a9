import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { builtEntryPoint } from "../bin/builtEntryPoint.ts";
import { hashApiKey } from "../http/ApiKeys.ts";

/** Tidemark's composition root (`npm start`) running in a child process, as a deployment runs it. */
export interface SystemProcess {
  readonly commandUrl: string;
  readonly queryUrl: string;
  readonly trackingUrl: string;
  /** `/metrics`, `/health`, `/ready` of the process. */
  readonly metricsUrl: string;
  /** An admin key the process was configured with. */
  readonly apiKey: string;
  /** Every line the process wrote (pino JSON on stdout, anything on stderr). */
  readonly output: readonly string[];
  /** The child process itself (with an IPC channel when `entry` was given). */
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
  stop(): Promise<void>;
}

export interface SystemProcessOptions {
  /** The roles to run (`npm start -- <roles>`); none: all of them. */
  readonly roles?: readonly string[];
  /**
   * Another entry point in place of `bin/tidemark.ts` (one that wraps it, as
   * `test/inMemoryTracedSystem.ts` does); the process then gets an IPC channel.
   */
  readonly entry?: string;
  /**
   * Configuration on top of the ports and API key chosen here: DATABASE_URL / AMQP_URL /
   * REDIS_URL for real services, or TIDEMARK_DATA_DIR / EMBEDDED_POSTGRES_PORT for the embedded
   * default; SMS_PROVIDERS, BANKING_API_URL …
   */
  readonly env: Readonly<Record<string, string>>;
  /** Keys configured beside the admin key (e.g. a reader without `pii:read`). */
  readonly extraKeys?: readonly {
    readonly name: string;
    readonly key: string;
    readonly scopes: readonly string[];
  }[];
  /** How long to wait for "Tidemark is running" (default 90 s: the embedded default runs initdb). */
  readonly startTimeoutMs?: number;
  /**
   * Runs the process as the leader of a process group of its own, as a shell runs a foreground
   * job, so that a test can signal the whole group as a terminal's Ctrl-C does
   * (`process.kill(-child.pid, "SIGINT")`).
   */
  readonly processGroup?: boolean;
}

/**
 * Starts `bin/tidemark.ts` on free loopback ports with a fresh admin key, and resolves once it
 * logs that it is running. A process that exits or stays silent fails with the tail of its output.
 * Every port it may bind is drawn free here (the simulators' and the embedded PostgreSQL's too,
 * unless `env` names them), so a test passes beside a running `npm start`.
 */
export async function startSystemProcess(options: SystemProcessOptions): Promise<SystemProcess> {
  const [commandPort, queryPort, trackingPort, metricsPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const [smsSimulatorPort, bankingSimulatorPort, embeddedPostgresPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const apiKey = `tm_test_${randomBytes(24).toString("hex")}`;
  // Only what the system needs from the parent's environment: the test's own service URLs must not leak in.
  const inherited = Object.fromEntries(
    ["PATH", "HOME", "TMPDIR", "LANG"].flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name]]],
    ),
  );
  const entry =
    options.entry === undefined ? builtEntryPoint("tidemark") : ["--import", "tsx", options.entry];
  const child = spawn(process.execPath, [...entry, ...(options.roles ?? [])], {
    cwd: new URL("..", import.meta.url).pathname,
    env: {
      ...inherited,
      COMMAND_API_PORT: String(commandPort),
      QUERY_API_PORT: String(queryPort),
      TRACKING_PORT: String(trackingPort),
      METRICS_PORT: String(metricsPort),
      SMS_SIMULATOR_PORT: String(smsSimulatorPort),
      BANKING_SIMULATOR_PORT: String(bankingSimulatorPort),
      EMBEDDED_POSTGRES_PORT: String(embeddedPostgresPort),
      TIDEMARK_API_KEYS: JSON.stringify([
        { name: "e2e", sha256: hashApiKey(apiKey), scopes: ["admin"] },
        ...(options.extraKeys ?? []).map(({ name, key, scopes }) => ({
          name,
          sha256: hashApiKey(key),
          scopes,
        })),
      ]),
      RATE_LIMIT_PER_SECOND: "100000",
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: options.entry === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", "ipc"],
    detached: options.processGroup === true,
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const running = new Promise<void>((resolve) => {
    const collect = (stream: NodeJS.ReadableStream) => {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          output.push(line);
          if (line.includes("Tidemark is running")) resolve();
        }
      });
    };
    // Both are pipes (stdio above); the types cannot tell once the IPC channel is optional.
    if (child.stdout !== null) collect(child.stdout);
    if (child.stderr !== null) collect(child.stderr);
  });
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    running.then(() => "running" as const),
    exited.then((code) => `exited with code ${code}` as const),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not running after ${timeoutMs} ms`), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const stop = () => stopChild(child, exited);
  if (outcome !== "running") {
    await stop();
    throw new Error(`Tidemark ${outcome}; its last lines:\n${output.slice(-30).join("\n")}`);
  }
  return {
    commandUrl: `http://127.0.0.1:${commandPort}`,
    queryUrl: `http://127.0.0.1:${queryPort}`,
    trackingUrl: `http://127.0.0.1:${trackingPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    apiKey,
    output,
    child,
    stop,
  };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Ports this process has handed out: never the same one twice. */
const handedOut = new Set<number>();

/**
 * A loopback port nobody listens on right now, for a server a test starts a moment later. Drawn
 * below Linux's ephemeral range (32768–60999), which a port the OS picks (`listen(0)`) comes
 * from and so does the local port of every outgoing connection: one of those could take it
 * before the server binds (seen in CI as EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

/** POSTs a command to the process's command API with its admin key; a non-2xx answer throws. */
export async function postCommand(system: SystemProcess, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${system.commandUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${system.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
}

/** Opens an account (service consent only, London time). */
export async function openAccount(system: SystemProcess, accountId: string, phone: string): Promise<void> {
  await postCommand(system, "/accounts", {
    accountId,
    customerId: `customer-${accountId}`,
    phone,
    currency: "GBP",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
  });
}

/** Pushes a balance of 42.00 GBP, below the shipped low-balance rule: one SMS follows. */
export async function pushLowBalance(system: SystemProcess, accountId: string): Promise<void> {
  await postCommand(system, `/accounts/${accountId}/balances`, {
    amount: "42.00",
    currency: "GBP",
    balanceType: "InterimAvailable",
    creditLineIncluded: false,
    referenceTime: new Date().toISOString(),
  });
}
