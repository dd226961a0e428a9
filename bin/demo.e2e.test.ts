import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { loadRules } from "../commands/rules/loadRules.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import { createIsolatedServices } from "../test/isolatedServices.ts";
import { freePort, startSystemProcess, type SystemProcess } from "../test/systemProcess.ts";
import { DemoClient, type DemoEndpoints } from "./demo/DemoClient.ts";
import { rulesInForce } from "./demo/demoRules.ts";
import { playDemoHistory, type DemoSummary } from "./demo/playDemoHistory.ts";

const exec = promisify(execFile);

interface Notification {
  readonly rule: { readonly ruleId: string; readonly episode: number } | null;
  readonly messageClass: string;
  readonly status: string;
  readonly suppressionReason: string | null;
  readonly deferral: { readonly reason: string; readonly until: string } | null;
}

interface Account {
  readonly timeZone: string;
  readonly balance: { readonly amount: string } | null;
  readonly consentGrounds: { readonly service: { readonly source: string } };
  readonly qualifications: Readonly<Record<string, number>>;
}

/** What each case's examples must show through the query API once the system has settled. */
const CHECKS: Readonly<
  Record<string, (notifications: Notification[], account: Account) => string | undefined>
> = {
  qualifiedDelivered: (list) => expectOnly(list, [["low-balance", "delivered"]]),
  overdrawn: (list) =>
    expectOnly(list, [
      ["low-balance", "delivered"],
      ["overdrawn", "delivered"],
    ]),
  failedOrUndelivered: (list) =>
    list.length === 1 && ["undelivered", "failed"].includes(list[0]?.status ?? "")
      ? undefined
      : `one undelivered or failed alert, not ${describe(list)}`,
  suppressed: (list) =>
    list.some((entry) => entry.status === "suppressed" && entry.suppressionReason !== null)
      ? undefined
      : `a suppressed alert with its reason, not ${describe(list)}`,
  suppressedOptedOut: (list) => expectOnly(list, [["low-balance", "suppressed", "opted-out"]]),
  stoppedBySms: (list, account) =>
    account.consentGrounds.service.source === "sms-keyword"
      ? expectOnly(list, [["low-balance", "suppressed", "opted-out"]])
      : `consent withdrawn by ${account.consentGrounds.service.source}, not by STOP`,
  frequencyCapped: (list) =>
    expectOnly(list, [
      ["low-balance", "delivered"],
      ["low-balance", "suppressed", "frequency-cap"],
    ]),
  deferredQuietHours: (list) =>
    list.length === 1 && list[0]?.status === "deferred" && list[0].deferral?.reason === "quiet-hours"
      ? undefined
      : `one alert deferred for quiet-hours, not ${describe(list)}`,
  savingsOffer: (list) => expectOnly(list, [["savings-offer", "delivered"]]),
  pulledFromBank: (list) => expectOnly(list, [["low-balance", "delivered"]]),
  neverCrossed: (list, account) =>
    list.length === 0 && Object.keys(account.qualifications).length === 0
      ? undefined
      : `no notification and no qualification, not ${describe(list)}`,
  staleBalance: (list, account) =>
    list.length === 0 && Number(account.balance?.amount) > 150
      ? undefined
      : `no notification and the newer healthy balance kept, not ${describe(list)} and ${account.balance?.amount}`,
};

test.serial(
  "npm run demo plays every case through the public APIs, each example is what it says, and a rerun changes nothing",
  async (t) => {
    t.timeout(300_000);
    await withSystem(t, async (system, endpoints) => {
      // The rules in force, as the demo reads them from the running system: the shipped ones here.
      const rules = await rulesInForce(new DemoClient(endpoints, system.apiKey));
      const byKey = (list: readonly Rule[]) =>
        list.toSorted((a, b) =>
          `${a.id}/${a.threshold.currency}`.localeCompare(`${b.id}/${b.threshold.currency}`),
        );
      t.deepEqual(byKey(rules), byKey(await loadRules()));
      const options = { accounts: 50, seed: "e2e", concurrency: 8, endpoints, apiKey: system.apiKey, rules };
      const summary = await playDemoHistory(options);
      t.log(`${summary.played} accounts, ${summary.requests} requests in ${summary.seconds.toFixed(1)} s`);
      t.is(summary.played, 50);
      t.deepEqual(summary.notes, []);
      const night: string | undefined = summary.zones?.night;
      t.truthy(night, "a zone where it is night now");
      for (const [name, check] of Object.entries(CHECKS)) {
        const examples = summary.examples[name as keyof DemoSummary["examples"]];
        t.true(examples.length > 0, `${name} has examples`);
        for (const accountId of examples) await holds(t, system, name, accountId, check);
      }
      for (const accountId of summary.examples.deferredQuietHours) {
        t.is((await account(system, accountId)).timeZone, night ?? "(none)", `${accountId} lives at night`);
      }

      const again = await playDemoHistory(options);
      t.is(again.played, 0);
      t.is(again.alreadyPresent, 50);
      t.deepEqual(again.examples, summary.examples);
      t.deepEqual(again.cases, summary.cases);
    });
  },
);

test.serial(
  "the command line says in one line when there is no system, and when the key is refused",
  async (t) => {
    t.timeout(120_000);
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const absent = await runDemo([
      "--accounts",
      "5",
      "--command-api",
      nobody,
      "--query-api",
      nobody,
      "--api-key",
      "tm_x",
    ]);
    t.is(absent.code, 2);
    t.regex(
      absent.stderr,
      new RegExp(`^demo: nothing answers at ${nobody}: start the system first \\(npm start`),
    );
    t.is(absent.stderr.trim().split("\n").length, 1);
    await withSystem(t, async (system) => {
      const refused = await runDemo([
        "--accounts",
        "5",
        "--command-api",
        system.commandUrl,
        "--query-api",
        system.queryUrl,
        "--api-key",
        "tm_not_a_key",
      ]);
      t.is(refused.code, 2);
      t.regex(refused.stderr, /^demo: http:\/\/127\.0\.0\.1:\d+ refused the API key \(invalid_api_key\)/);
    });
    const usage = await runDemo(["--accounts", "0"]);
    t.is(usage.code, 2);
    t.regex(usage.stderr, /--accounts must be a whole number from 1 to 100000/);
  },
);

/**
 * A system of its own (every role, on RabbitMQ and a database of its own) that accepts balances
 * 32 days old: the shipped rule with quiet hours (savings-offer) needs 30 days at or above 5,000.
 */
async function withSystem(
  t: ExecutionContext,
  run: (system: SystemProcess, endpoints: DemoEndpoints) => Promise<void>,
): Promise<void> {
  const services = await createIsolatedServices("demo");
  const [smsSimulatorPort, bankingSimulatorPort] = [await freePort(), await freePort()];
  try {
    const system = await startSystemProcess({
      env: {
        ...services.env,
        BALANCE_MAX_AGE_HOURS: String(32 * 24),
        SMS_SIMULATOR_PORT: String(smsSimulatorPort),
        BANKING_SIMULATOR_PORT: String(bankingSimulatorPort),
      },
    });
    try {
      await run(system, {
        commandApi: system.commandUrl,
        queryApi: system.queryUrl,
        smsWebhooks: system.trackingUrl,
        smsSimulator: `http://127.0.0.1:${smsSimulatorPort}`,
        bankingSimulator: `http://127.0.0.1:${bankingSimulatorPort}`,
      });
    } catch (error) {
      t.log(system.output.slice(-30).join("\n"));
      throw error;
    } finally {
      await system.stop();
    }
  } finally {
    await services.drop((message) => t.log(message));
  }
}

/** Polls the query API until the account's notifications pass `check` (a minute at most). */
async function holds(
  t: ExecutionContext,
  system: SystemProcess,
  name: string,
  accountId: string,
  check: (notifications: Notification[], account: Account) => string | undefined,
): Promise<void> {
  let problem: string | undefined = "not read";
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
    const page = (await query(system, `/notifications?accountId=${accountId}`)) as { items: Notification[] };
    problem = check(page.items, await account(system, accountId));
    if (problem === undefined) break;
  }
  t.is(problem, undefined, `${name} ${accountId}`);
}

function account(system: SystemProcess, accountId: string): Promise<Account> {
  return query(system, `/accounts/${accountId}`) as Promise<Account>;
}

async function query(system: SystemProcess, path: string): Promise<unknown> {
  const response = await fetch(`${system.queryUrl}${path}`, {
    headers: { authorization: `Bearer ${system.apiKey}` },
  });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Undefined when the notifications are exactly these (rule, status, reason), in any order. */
function expectOnly(
  list: readonly Notification[],
  wanted: readonly (readonly [string, string, string?])[],
): string | undefined {
  const seen = list.map((entry) =>
    `${entry.rule?.ruleId} ${entry.status} ${entry.suppressionReason ?? ""}`.trim(),
  );
  const expected = wanted.map(([rule, status, reason]) => `${rule} ${status} ${reason ?? ""}`.trim());
  return JSON.stringify(seen.sort()) === JSON.stringify(expected.sort())
    ? undefined
    : `${expected.join(", ")}, not ${describe(list)}`;
}

function describe(list: readonly Notification[]): string {
  if (list.length === 0) return "no notification";
  return list
    .map((entry) => `${entry.rule?.ruleId ?? "-"} ${entry.status} ${entry.suppressionReason ?? ""}`.trim())
    .join(", ");
}

/** `npm run demo` with `args`, as a user runs it; the exit status and what it wrote on stderr. */
async function runDemo(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await exec(process.execPath, ["--import", "tsx", "bin/demo.ts", ...args], {
      cwd: new URL("..", import.meta.url).pathname,
    });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
}
