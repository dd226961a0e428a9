import { spawn } from "node:child_process";
import test from "ava";
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
