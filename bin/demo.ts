import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { runCommandLine, UsageError } from "./commandLine.ts";
import { DemoClient, DemoStopped, type DemoEndpoints } from "./demo/DemoClient.ts";
import { rulesInForce } from "./demo/demoRules.ts";
import { DEMO_CASES } from "./demo/demoPlan.ts";
import { playDemoHistory, type DemoProgress, type DemoSummary } from "./demo/playDemoHistory.ts";
import { ConfigError, loadConfig } from "./loadConfig.ts";
import { webhookBaseUrlOf } from "./roles/simulatorDefaults.ts";
import { textTable } from "./textTable.ts";

const USAGE = `Usage: npm run demo -- [options]

Plays a realistic history into a running system (npm start, in another terminal) through its
public APIs and the built-in simulators, so that the read models, reports and console have
something to show: accounts with a few days of balances each, then alerts delivered,
undelivered and failed, suppressed (consent withdrawn, STOP texted, frequency cap), deferred by
quiet hours, pulled from the Banking API, stale balances, and accounts that never cross a rule.
Writes the example accounts of each case to <data dir>/demo-accounts.json.

Options:
  --accounts <n>       accounts to play (default 2000, at most 100000)
  --seed <s>           ids, phones, cases and amounts follow from it (default 1; letters, digits,
                       _ and -, up to 20): the same seed again changes nothing, another adds accounts
  --concurrency <n>    accounts played at once (default 32)
  --command-api <url>  default COMMAND_API_URL, else http://127.0.0.1:<COMMAND_API_PORT or 3001>
  --query-api <url>    default QUERY_API_URL, else http://127.0.0.1:<QUERY_API_PORT or 3002>
  --api-key <key>      default TIDEMARK_API_KEY, else the key npm start wrote to <data dir>/dev-api-key
  --out <file>         default <data dir>/demo-accounts.json (data dir: TIDEMARK_DATA_DIR or .tidemark)
  --json               the summary as JSON on stdout (progress stays on stderr)
  -h, --help           this text

The SMS webhooks and simulators are found as npm start places them (TRACKING_PORT or
SMS_WEBHOOK_BASE_URL, SMS_SIMULATOR_PORT, BANKING_SIMULATOR_PORT); the rules it plays against are
the ones in force, read from the query API (GET /rules/versions). Its phone numbers are made
up but valid: it refuses to run with SMS_PROVIDERS set, and must never play against a system
whose SMS providers are real.
Exit status: 0 done, 1 the system answered something the demo did not expect, 2 bad usage, no
system to play against, or a refused API key.`;

interface Invocation {
  readonly accounts: number;
  readonly seed: string;
  readonly concurrency: number;
  readonly commandApi: string | undefined;
  readonly queryApi: string | undefined;
  readonly apiKey: string | undefined;
  readonly out: string | undefined;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      accounts: { type: "string", default: "2000" },
      seed: { type: "string", default: "1" },
      concurrency: { type: "string", default: "32" },
      "command-api": { type: "string" },
      "query-api": { type: "string" },
      "api-key": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(values.seed)) {
    throw new UsageError("--seed must be 1-20 letters, digits, _ or -");
  }
  return {
    accounts: whole("accounts", values.accounts, 1, 100_000),
    seed: values.seed,
    concurrency: whole("concurrency", values.concurrency, 1, 256),
    commandApi: optionUrl("command-api", values["command-api"]),
    queryApi: optionUrl("query-api", values["query-api"]),
    apiKey: values["api-key"],
    out: values.out,
    json: values.json,
  };
}

function whole(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** `text` without a trailing slash, when it is an http(s) URL. */
function httpUrl(text: string): string | undefined {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol) ? text.replace(/\/+$/, "") : undefined;
  } catch {
    return undefined;
  }
}

function optionUrl(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const url = httpUrl(text);
  if (url === undefined) throw new UsageError(`--${name} must be an http:// or https:// URL`);
  return url;
}

function variableUrl(variable: string): string | undefined {
  const text = process.env[variable];
  if (text === undefined || text === "") return undefined;
  const url = httpUrl(text);
  if (url === undefined) throw new ConfigError(variable, "must be an http:// or https:// URL");
  return url;
}

interface Configuration {
  readonly endpoints: DemoEndpoints;
  readonly apiKey: string | undefined;
  readonly dataDir: string;
}

/** Where npm start, run in this environment, puts everything; the demo's own variables on top. */
function configure(): Configuration {
  const config = loadConfig(process.env, { requireApiKeys: false });
  if (config.smsProviders.length > 0) {
    throw new ConfigError(
      "SMS_PROVIDERS",
      "is set: the demo texts made-up numbers, so it plays only against the built-in SMS simulator",
    );
  }
  const local = (port: number) => `http://127.0.0.1:${port}`;
  return {
    endpoints: {
      commandApi: variableUrl("COMMAND_API_URL") ?? local(config.commandApiPort),
      queryApi: variableUrl("QUERY_API_URL") ?? local(config.queryApiPort),
      smsWebhooks: webhookBaseUrlOf(config),
      smsSimulator: local(config.smsSimulatorPort),
      bankingSimulator: local(config.bankingSimulatorPort),
    },
    apiKey: process.env.TIDEMARK_API_KEY || undefined,
    dataDir: config.database.kind === "embedded" ? config.database.dataDir : ".tidemark",
  };
}

async function run(invocation: Invocation, configuration: Configuration): Promise<number> {
  const apiKey = invocation.apiKey ?? configuration.apiKey ?? readDevApiKey(configuration.dataDir);
  if (apiKey === undefined) {
    console.error(
      `demo: no API key: pass --api-key or set TIDEMARK_API_KEY (npm start on the embedded default writes one to ${path.join(configuration.dataDir, "dev-api-key")})`,
    );
    return 2;
  }
  const progress = new ProgressLine();
  let summary: DemoSummary;
  try {
    const endpoints = {
      ...configuration.endpoints,
      commandApi: invocation.commandApi ?? configuration.endpoints.commandApi,
      queryApi: invocation.queryApi ?? configuration.endpoints.queryApi,
    };
    summary = await playDemoHistory({
      accounts: invocation.accounts,
      seed: invocation.seed,
      concurrency: invocation.concurrency,
      endpoints,
      apiKey,
      rules: await rulesInForce(new DemoClient(endpoints, apiKey)),
      onProgress: (update) => progress.update(update),
      onNote: (note) => progress.say(`note: ${note}`),
    });
  } catch (error) {
    progress.done();
    if (!(error instanceof DemoStopped)) throw error;
    console.error(`demo: ${error.message}`);
    return error.reason === "failed" ? 1 : 2;
  }
  progress.done();
  const out = invocation.out ?? path.join(configuration.dataDir, "demo-accounts.json");
  await writeExamples(out, summary);
  if (invocation.json) console.log(JSON.stringify(summary, null, 2));
  else printSummary(summary, out);
  return 0;
}

function readDevApiKey(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, "dev-api-key"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The file a browser test or a newcomer reads: which accounts show which case. */
async function writeExamples(file: string, summary: DemoSummary): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const { seed, accounts, examples, cases, zones } = summary;
  const written = { seed, accounts, writtenAt: new Date().toISOString(), examples, cases, zones };
  await writeFile(file, `${JSON.stringify(written, null, 2)}\n`);
}

function printSummary(summary: DemoSummary, out: string): void {
  const rate = summary.played / Math.max(summary.seconds, 0.001);
  console.log(
    `Demo history, seed ${summary.seed}: ${summary.played.toLocaleString("en")} accounts played, ` +
      `${summary.alreadyPresent.toLocaleString("en")} already there; ${summary.requests.toLocaleString("en")} requests ` +
      `in ${summary.seconds.toFixed(1)} s (${rate.toFixed(0)} accounts/s)`,
  );
  const rows = [...DEMO_CASES, "accruing"]
    .filter((name) => (summary.cases[name] ?? 0) > 0)
    .map((name) => [
      name,
      String(summary.cases[name]),
      ((summary.examples as Record<string, string[] | undefined>)[name] ?? []).slice(0, 3).join(" "),
    ]);
  for (const line of textTable(["case", "accounts", "examples"], rows)) console.log(line);
  const zones = summary.zones;
  if ((summary.cases.deferredQuietHours ?? 0) > 0 && zones !== undefined) {
    console.log(
      `Quiet hours: it is night in ${zones.night ?? "-"} (deferred), day in ${zones.day ?? "-"} (sent)`,
    );
  }
  for (const note of summary.notes) console.log(`Note: ${note}`);
  console.log(`Examples of every case: ${out}`);
}

/** A progress bar on a terminal, a line every 5 s otherwise. */
class ProgressLine {
  readonly #tty = process.stderr.isTTY;
  #lastDrawn = 0;

  update({ done, total, elapsedMs }: DemoProgress): void {
    const now = Date.now();
    if (done < total && now - this.#lastDrawn < (this.#tty ? 200 : 5000)) return;
    this.#lastDrawn = now;
    const rate = done / Math.max(elapsedMs / 1000, 0.001);
    const eta = Math.ceil((total - done) / Math.max(rate, 0.001));
    const fraction = done / total;
    const bar = `[${"#".repeat(Math.round(fraction * 30)).padEnd(30, "-")}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
    const line = `${bar} ${done.toLocaleString("en")}/${total.toLocaleString("en")} accounts  ${rate.toFixed(0)} accounts/s  ETA ${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, "0")}`;
    process.stderr.write(this.#tty ? `\r${line}\u001b[K` : `${line}\n`);
  }

  say(message: string): void {
    process.stderr.write(`${this.#tty ? "\r\u001b[K" : ""}${message}\n`);
  }

  done(): void {
    if (this.#tty) process.stderr.write("\r\u001b[K");
  }
}

await runCommandLine({ name: "demo", usage: USAGE, parse: parseInvocation, configure, run });
