import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import {
  runScenario,
  SCENARIO_ACCOUNTS,
  startScenarioSimulators,
  type ScenarioOptions,
  type ScenarioOutcome,
} from "./endToEndScenario.ts";
import { createEmbeddedDataDir } from "./embeddedDataDir.ts";
import { createIsolatedServices } from "./isolatedServices.ts";
import { freePort, startSystemProcess } from "./systemProcess.ts";

const exec = promisify(execFile);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

// One system at a time: each runs every role, and the machine has two cores.

test.serial(
  "end to end on PostgreSQL, RabbitMQ and Redis: 1,000 accounts, counts exact, one SMS per notification submitted",
  async (t) => {
    t.timeout(300_000);
    await withRealServices(t, REDIS_URL, async (env) => {
      const outcome = await scenario(t, env);
      assertOutcome(t, outcome);
    });
  },
);

test.serial(
  "end to end on the embedded default (npm start): the same scenario, the same counts",
  async (t) => {
    t.timeout(300_000);
    const dataDir = await createEmbeddedDataDir("e2e");
    try {
      const outcome = await scenario(t, {
        TIDEMARK_DATA_DIR: dataDir.path,
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
      });
      assertOutcome(t, outcome);
    } finally {
      await dataDir.dispose();
    }
  },
);

test.serial("end to end with Redis stopped after the accounts open: slower, still exact", async (t) => {
  t.timeout(300_000);
  const port = await freePort();
  const redis = spawn(
    "redis-server",
    ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const redisExited = new Promise((resolve) => redis.once("exit", resolve));
  try {
    await waitForRedis(port);
    await withRealServices(t, `redis://127.0.0.1:${port}`, async (env) => {
      const outcome = await scenario(t, env, {
        afterAccountsOpened: async () => {
          redis.kill("SIGKILL");
          await redisExited;
          t.log("Redis stopped");
        },
      });
      assertOutcome(t, outcome);
    });
  } finally {
    redis.kill("SIGKILL");
  }
});

/** Starts the simulators and the system (every role) with `env`, runs the scenario, stops both. */
async function scenario(
  t: ExecutionContext,
  env: Readonly<Record<string, string>>,
  options: ScenarioOptions = {},
): Promise<ScenarioOutcome> {
  const simulators = await startScenarioSimulators();
  try {
    // Debug: the most the system ever logs, all of it checked for secrets.
    // The savings offer needs 30 days at or above its threshold: the scenario pushes a balance
    // dated 31 days back, so the system accepts balances that old (the default bound is 7 days).
    const system = await startSystemProcess({
      env: { LOG_LEVEL: "debug", BALANCE_MAX_AGE_HOURS: String(32 * 24), ...env, ...simulators.env },
    });
    try {
      const outcome = await runScenario(system, simulators, { ...options, log: (message) => t.log(message) });
      assertNothingSecretLogged(t, system.output, system.apiKey);
      return outcome;
    } catch (error) {
      t.log(system.output.slice(-40).join("\n"));
      throw error;
    } finally {
      await system.stop();
      const errors = system.output.filter((line) => /"level":50|"level":60/.test(line));
      if (errors.length > 0) t.log(`${errors.length} error lines, the first: ${errors[0]}`);
    }
  } finally {
    await simulators.close();
  }
}

/**
 * Every line the system wrote (pino JSON and anything else, at LOG_LEVEL info) is free of phone
 * numbers, balance amounts, SMS bodies and the API key.
 */
function assertNothingSecretLogged(t: ExecutionContext, lines: readonly string[], apiKey: string): void {
  const secrets: readonly [string, RegExp][] = [
    ["a phone number", /\+\d{7,15}/],
    ["an amount of money", /[£$€]\s?-?\d|"amount":"-?\d/],
    ["an SMS body", /Your balance|Reply STOP/i],
    ["the API key", new RegExp(apiKey)],
  ];
  const found = secrets.flatMap(([what, pattern]) => {
    const line = lines.find((candidate) => pattern.test(candidate));
    return line === undefined ? [] : [`${what}: ${line}`];
  });
  t.deepEqual(found, [], `${lines.length} log lines checked`);
  t.true(lines.length > 0, "the system did log");
  t.log(`${lines.length} log lines (LOG_LEVEL debug) free of phone numbers, amounts, SMS bodies and keys`);
}

function assertOutcome(t: ExecutionContext, outcome: ScenarioOutcome): void {
  t.log(
    `phases took ${outcome.phaseSeconds.join(" s and ")} s; accepted ${JSON.stringify(outcome.accepted)}`,
  );
  t.deepEqual(outcome.reported, outcome.expected, "the reporting read model's counts");
  const submitted = Object.values(outcome.reported.rules).reduce((sum, rule) => sum + rule.submitted, 0);
  const accepted = Object.values(outcome.accepted).reduce((sum, count) => sum + count, 0);
  t.is(accepted, submitted, "SMS accepted by the providers = notifications submitted");
  t.true(accepted > 0 && accepted < SCENARIO_ACCOUNTS * 2);
  t.deepEqual(outcome.duplicateReferences, [], "no notification sent twice");
}

/**
 * A database and a RabbitMQ virtual host of the run's own on the shared servers (other test
 * files use them at the same time, and one restarts the broker: the system must ride that out).
 */
async function withRealServices(
  t: ExecutionContext,
  redisUrl: string,
  run: (env: Readonly<Record<string, string>>) => Promise<void>,
): Promise<void> {
  const services = await createIsolatedServices("e2e");
  try {
    await run({ ...services.env, REDIS_URL: redisUrl });
  } finally {
    await services.drop((message) => t.log(message));
  }
}

async function waitForRedis(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { stdout } = await exec("redis-cli", ["-p", String(port), "ping"]).catch(() => ({ stdout: "" }));
    if (stdout.trim() === "PONG") return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`redis-server on port ${port} did not answer`);
}
