import { spawn } from "node:child_process";
import test from "ava";
import { ROLES, type Role } from "../bin/roles.ts";
import { createIsolatedServices } from "./isolatedServices.ts";
import {
  freePort,
  openAccount,
  postCommand,
  pushLowBalance,
  startSystemProcess,
  type SystemProcess,
} from "./systemProcess.ts";

/** The metrics ops/prometheus/METRICS.md promises, each with a sample that must be there. */
const EXPECTED: readonly (readonly [name: string, sample: RegExp])[] = [
  [
    "tidemark_http_request_duration_seconds",
    /_count\{role="command-api",route="\/accounts\/:id\/balances",status="202"\} [1-9]/,
  ],
  ["tidemark_event_appends_total", /\{outcome="ok"\} [1-9]/],
  ["tidemark_event_append_duration_seconds", /_count [1-9]/],
  ["tidemark_projection_checkpoint_position_events", /\{projection="reporting"\} [1-9]/],
  ["tidemark_projection_lag_events", /\{projection="accounts"\} \d/],
  ["tidemark_projection_lag_seconds", /\{projection="tracking"\} [\d.]/],
  ["tidemark_relay_lag_events", / \d/],
  ["tidemark_relay_lag_seconds", / [\d.]/],
  ["tidemark_relay_confirms_total", / [1-9]/],
  ["tidemark_consumer_messages_total", /\{queue="tidemark\.sms-gateway",outcome="ok"\} [1-9]/],
  ["tidemark_dead_letters", /\{queue="tidemark\.qualification-policy"\} 0/],
  ["tidemark_sms_submissions_total", /\{provider="simulator",outcome="submitted"\} [1-9]/],
  [
    "tidemark_sms_delivery_statuses_total",
    /\{provider="simulator",status="(sent|delivered|undelivered|failed)"\} [1-9]/,
  ],
  ["tidemark_banking_api_calls_total", /\{outcome="ok"\} [1-9]/],
  ["tidemark_banking_circuit_state", / 0/],
  ["tidemark_banking_refresh_failures_total", /\{reason="no_current_balance"\} [1-9]/],
  ["process_cpu_seconds_total", / [\d.]/],
  ["nodejs_eventloop_lag_seconds", / [\d.]/],
];

test("/metrics of the whole system parses as Prometheus text (promtool) and carries every metric, moving with the work", async (t) => {
  t.timeout(180_000);
  const services = await createIsolatedServices("metrics");
  let system: SystemProcess | undefined;
  try {
    system = await startSystemProcess({
      env: {
        ...services.env,
        SMS_SIMULATOR_PORT: String(await freePort()),
        BANKING_SIMULATOR_PORT: String(await freePort()),
      },
    });
    await openAccount(system, "metrics-1", "+447911123456");
    await pushLowBalance(system, "metrics-1");
    // Another account for the bank read: its 250.00 would recover the first one's balance.
    await openAccount(system, "metrics-2", "+447911123457");
    await postCommand(system, "/accounts/metrics-2/balance-refreshes", {});
    // A euro account: the bank's 250.00 GBP is no balance of it, and the refresh fails.
    await openEuroAccount(system, "metrics-3");
    await postCommand(system, "/accounts/metrics-3/balance-refreshes", {});

    let text = "";
    const missing = () =>
      EXPECTED.filter(([name, sample]) => !new RegExp(`^${name}${sample.source}`, "m").test(text));
    for (let waited = 0; waited < 60_000; waited += 500) {
      text = await (await fetch(`${system.metricsUrl}/metrics`)).text();
      if (missing().length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (missing().length > 0)
      t.log(
        text
          .split("\n")
          .filter((line) => line.startsWith("tidemark_"))
          .join("\n"),
      );
    t.deepEqual(
      missing().map(([name]) => name),
      [],
      "every metric present with a sample that moved",
    );
    // promtool exits 1 when the text does not parse, 3 for lint findings; prom-client's own
    // Node gauges (nodejs_active_handles_total …) draw some: ours must draw none.
    const check = await promtoolCheckMetrics(text);
    t.true(check.code === 0 || check.code === 3, `promtool: ${check.code} ${check.output}`);
    const findings = check.output.split("\n").filter((line) => line.trim() !== "");
    t.deepEqual(
      findings.filter((line) => !/^nodejs_|^process_/.test(line)),
      [],
      "no lint finding on Tidemark's metrics",
    );
    t.is((await fetch(`${system.metricsUrl}/ready`)).status, 200);
  } finally {
    await system?.stop();
    await services.drop((message) => t.log(message));
  }
});

/** Where each metric of EXPECTED shows its sample when every role runs in a process of its own. */
const OWNERS: Readonly<Record<string, Role>> = {
  tidemark_http_request_duration_seconds: "command-api",
  tidemark_event_appends_total: "command-api",
  tidemark_event_append_duration_seconds: "command-api",
  tidemark_projection_checkpoint_position_events: "projector",
  tidemark_projection_lag_events: "projector",
  tidemark_projection_lag_seconds: "projector",
  tidemark_relay_lag_events: "relay",
  tidemark_relay_lag_seconds: "relay",
  tidemark_relay_confirms_total: "relay",
  tidemark_consumer_messages_total: "notification",
  tidemark_dead_letters: "qualification",
  tidemark_sms_submissions_total: "notification",
  tidemark_sms_delivery_statuses_total: "tracking",
  tidemark_banking_api_calls_total: "banking",
  tidemark_banking_circuit_state: "banking",
  tidemark_banking_refresh_failures_total: "banking",
};

async function openEuroAccount(system: SystemProcess, accountId: string): Promise<void> {
  await postCommand(system, "/accounts", {
    accountId,
    customerId: `customer-${accountId}`,
    phone: "+447911123458",
    currency: "EUR",
    timeZone: "Europe/London",
    consents: { service: true, marketing: false },
  });
}

test("/metrics of each role, one process per role: parses (promtool), and the metrics come from the roles that own them", async (t) => {
  t.timeout(240_000);
  const services = await createIsolatedServices("role_metrics");
  const systems = new Map<Role, SystemProcess>(); // one process per role, as docker-compose and Kubernetes run them
  try {
    const [smsPort, bankPort, trackingPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...services.env,
      SMS_SIMULATOR_PORT: String(smsPort),
      BANKING_SIMULATOR_PORT: String(bankPort),
      BANKING_API_URL: `http://127.0.0.1:${bankPort}`,
      BANKING_API_TOKEN: "simulator-bank-token",
      SMS_PROVIDERS: JSON.stringify([
        {
          name: "simulator",
          baseUrl: `http://127.0.0.1:${smsPort}`,
          accountSid: "AC00000000000000000000000000000000",
          authToken: "simulator-auth-token",
          from: "Tidemark",
        },
      ]),
      SMS_WEBHOOK_BASE_URL: `http://127.0.0.1:${trackingPort}`,
    };
    const start = async (role: Role) =>
      systems.set(
        role,
        await startSystemProcess({
          roles: [role],
          env: role === "tracking" ? { ...env, TRACKING_PORT: String(trackingPort) } : env,
        }),
      );
    // The command API first (it migrates the event store), then the others side by side.
    await start("command-api");
    await Promise.all(ROLES.filter((role) => role !== "command-api").map(start));
    const commands = systems.get("command-api");
    if (commands === undefined) return t.fail("no command API");
    await openAccount(commands, "roles-1", "+447911123456");
    await pushLowBalance(commands, "roles-1");
    await openAccount(commands, "roles-2", "+447911123457");
    await postCommand(commands, "/accounts/roles-2/balance-refreshes", {});
    await openEuroAccount(commands, "roles-3");
    await postCommand(commands, "/accounts/roles-3/balance-refreshes", {});

    const texts = new Map<string, string>();
    const missing = () =>
      Object.entries(OWNERS).flatMap(([name, role]) => {
        const sample = EXPECTED.find(([expected]) => expected === name)?.[1];
        const text = texts.get(role) ?? "";
        return sample !== undefined && new RegExp(`^${name}${sample.source}`, "m").test(text)
          ? []
          : [`${name} from ${role}`];
      });
    for (let waited = 0; waited < 60_000; waited += 500) {
      for (const [role, system] of systems)
        texts.set(role, await (await fetch(`${system.metricsUrl}/metrics`)).text());
      if (missing().length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (missing().length > 0) {
      for (const [name, sample] of EXPECTED) {
        const carriers = [...texts].filter(([, text]) =>
          new RegExp(`^${name}${sample.source}`, "m").test(text),
        );
        t.log(`${name}: ${carriers.map(([role]) => role).join(", ") || "no role"}`);
      }
    }
    t.deepEqual(missing(), [], "each metric present, moving, in the role that owns it");
    for (const role of ROLES) {
      const text = texts.get(role) ?? "";
      t.regex(text, /^process_cpu_seconds_total /m, `${role}: Node's defaults`);
      const check = await promtoolCheckMetrics(text);
      t.true(check.code === 0 || check.code === 3, `${role}: promtool ${check.code} ${check.output}`);
      t.deepEqual(
        check.output.split("\n").filter((line) => line.trim() !== "" && !/^nodejs_|^process_/.test(line)),
        [],
        `${role}: no lint finding on Tidemark's metrics`,
      );
    }
  } finally {
    await Promise.all([...systems.values()].map((system) => system.stop()));
    await services.drop((message) => t.log(message));
  }
});

/** `promtool check metrics`: parses the exposition and lints it (Debian's prometheus package). */
async function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  child.stdin.end(text);
  return { code: await exited, output };
}
