import { localTime, type TimeZone } from "../domain/values/TimeZone.ts";
import {
  FUNNEL_COLUMNS,
  type FunnelReportRow,
  type ProviderReportRow,
} from "../projections/reporting/reportingQueries.ts";
import {
  createBankingApiSimulator,
  type BankingApiSimulator,
} from "../gateways/banking/simulator/createBankingApiSimulator.ts";
import {
  createSmsProviderSimulator,
  type SmsProviderSimulator,
} from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { twilioSignature } from "../gateways/sms/twilioSignature.ts";
import { closeServer, listenOnLoopback } from "./loopbackServer.ts";
import type { SystemProcess } from "./systemProcess.ts";

/**
 * The end-to-end scenario of the whole system: 1,000 accounts, balances pushed and pulled that
 * cross and re-cross the shipped rules, STOP by SMS, quiet hours, and the first SMS provider down
 * for the second phase so that every SMS of it fails over to the second. Each phase waits until
 * the reporting read model shows what the phase must have done, so that each later check (the
 * frequency cap reads what was sent) sees the earlier phase complete.
 *
 * The groups (account index → what happens):
 * - A 0–399: 50.00 → low-balance (sent, delivered). Phase 2: 0–39 text STOP; all go 200.00
 *   (re-armed) then 40.00 → low-balance again: opted out (0–39) or within the 24 h cooldown
 *   (frequency cap).
 * - B 400–499: −20.00 → low-balance and overdrawn (both sent). Phase 2: 10.00 (overdrawn
 *   re-armed) then −5.00 → overdrawn again, within its cooldown (frequency cap).
 * - C 500–699: 6,000.00 observed 31 days ago and now → savings-offer (marketing): 500–549 marketing
 *   consent, in a time zone where it is night now (deferred to the end of quiet hours); 550–599
 *   no marketing consent (opted out); 600–699 consent, daytime (sent).
 * - D 700–799: a balance refresh; the Banking API answers 30.00 → low-balance (sent).
 * - E 800–999: 1,000.00 (nothing). Phase 2, first provider answering 500: 60.00 → low-balance,
 *   sent by the second provider, which reports every message undelivered.
 */
export const SCENARIO_ACCOUNTS = 1000;

/** The funnel report's counters (every column but the cohort and the derived measures). */
const RULE_COUNTERS = FUNNEL_COLUMNS.filter(
  (column): column is Exclude<(typeof FUNNEL_COLUMNS)[number], NotCounted> =>
    !["day", "ruleId", "messageClass", "deliveryRate", "latencyP50Ms", "latencyP95Ms"].includes(column),
);
type NotCounted = "day" | "ruleId" | "messageClass" | "deliveryRate" | "latencyP50Ms" | "latencyP95Ms";

/** The counters the scenario checks, per rule (summed over days and classes). */
export type RuleCounts = Record<(typeof RULE_COUNTERS)[number], number>;

export interface ProviderCounts {
  submitted: number;
  delivered: number;
  undelivered: number;
  failed: number;
}

/** What the read models report, and what the scenario says they must. */
export interface ScenarioCounts {
  readonly rules: Record<string, RuleCounts>;
  readonly providers: Record<string, ProviderCounts>;
}

export interface ScenarioOutcome {
  readonly expected: ScenarioCounts;
  readonly reported: ScenarioCounts;
  /** Messages each simulated provider accepted (created). */
  readonly accepted: Readonly<Record<string, number>>;
  /** Our references (notification ids) accepted more than once, over both providers. */
  readonly duplicateReferences: readonly string[];
  /** Seconds each phase took until its counts showed. */
  readonly phaseSeconds: readonly number[];
}

/** The two SMS providers and the Banking API, in the test's process, with their knobs at hand. */
export interface ScenarioSimulators {
  readonly primary: SmsProviderSimulator;
  readonly secondary: SmsProviderSimulator;
  readonly bank: BankingApiSimulator;
  /** SMS_PROVIDERS, BANKING_API_URL and BANKING_API_TOKEN for the system under test. */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

const PRIMARY = { name: "primary", accountSid: `AC${"1".repeat(32)}`, authToken: "primary-auth-token" };
const SECONDARY = { name: "secondary", accountSid: `AC${"2".repeat(32)}`, authToken: "secondary-auth-token" };
const BANK_TOKEN = "scenario-bank-token";

export async function startScenarioSimulators(): Promise<ScenarioSimulators> {
  // Callbacks come quickly, and the first provider delivers every message; the second, used only
  // in the outage, reports every one undelivered: the outcome counts are exact, not a mix.
  const fast = { sentAfterMs: 20, finalAfterMs: 50 };
  const primary = createSmsProviderSimulator({
    ...PRIMARY,
    knobs: { ...fast, outcomes: { delivered: 1, undelivered: 0, failed: 0 } },
  });
  const secondary = createSmsProviderSimulator({
    ...SECONDARY,
    knobs: { ...fast, outcomes: { delivered: 0, undelivered: 1, failed: 0 } },
  });
  const bank = createBankingApiSimulator({ accessToken: BANK_TOKEN, knobs: { latencyMs: 5 } });
  const servers = [
    await listenOnLoopback(primary.app),
    await listenOnLoopback(secondary.app),
    await listenOnLoopback(bank.app),
  ];
  const [primaryUrl, secondaryUrl, bankUrl] = servers.map((server) => server.url);
  return {
    primary,
    secondary,
    bank,
    env: {
      SMS_PROVIDERS: JSON.stringify([
        { ...PRIMARY, baseUrl: primaryUrl, from: "Tidemark" },
        { ...SECONDARY, baseUrl: secondaryUrl, from: "Tidemark" },
      ]),
      BANKING_API_URL: bankUrl as string,
      BANKING_API_TOKEN: BANK_TOKEN,
    },
    async close() {
      primary.close();
      secondary.close();
      await Promise.all(servers.map(({ server }) => closeServer(server)));
    },
  };
}

export interface ScenarioOptions {
  /** Runs once every account is open, before the first balance (a fault test stops Redis here). */
  readonly afterAccountsOpened?: () => Promise<void>;
  /** How long one phase may take to show its counts (default 120 s). */
  readonly phaseTimeoutMs?: number;
  readonly log?: (message: string) => void;
}

/**
 * Runs the scenario against a running system whose SMS providers and Banking API are
 * `simulators`, and reports what the read models and the providers saw. The system's store must
 * be one no other run wrote to: the account ids are the same every run.
 */
export async function runScenario(
  system: SystemProcess,
  simulators: ScenarioSimulators,
  options: ScenarioOptions = {},
): Promise<ScenarioOutcome> {
  const log = options.log ?? (() => undefined);
  const client = new ScenarioClient(system);
  const startedAt = Date.now();
  const night = zoneAt(startedAt, (hour) => hour >= 23 || hour < 6);
  const day = zoneAt(startedAt, (hour) => hour >= 10 && hour < 19);
  log(`night zone ${night}, day zone ${day}`);
  const accounts = Array.from({ length: SCENARIO_ACCOUNTS }, (_, index) =>
    scenarioAccount(index, night, day),
  );
  const phaseSeconds: number[] = [];
  const fromDay = utcDayOf(startedAt);

  await forEachLimited(accounts, 16, (account) =>
    client.command("POST", "/accounts", {
      accountId: account.id,
      customerId: `customer-${account.id}`,
      phone: account.phone,
      currency: "GBP",
      timeZone: account.timeZone,
      consents: { service: true, marketing: account.marketing },
    }),
  );
  log(`${accounts.length} accounts open`);
  await options.afterAccountsOpened?.();

  // Phase 1: every rule qualifies somewhere; the first provider sends everything.
  const phaseOneStart = Date.now();
  for (const account of accounts.filter((candidate) => candidate.group === "D")) {
    simulators.bank.script(account.id, [{ amount: "30.00", currency: "GBP" }]);
  }
  await forEachLimited(accounts, 16, async (account) => {
    switch (account.group) {
      case "A":
        return client.balance(account, "50.00");
      case "B":
        return client.balance(account, "-20.00");
      case "C1":
      case "C2":
      case "C3":
        await client.balance(account, "6000.00", Date.now() - 31 * 24 * 3_600_000);
        return client.balance(account, "6000.00");
      case "D":
        return client.command("POST", `/accounts/${account.id}/balance-refreshes`, {});
      case "E":
        return client.balance(account, "1000.00");
    }
  });
  const expected = expectedCounts(1);
  await client.waitForCounts(expected, fromDay, options.phaseTimeoutMs ?? 120_000, log);
  phaseSeconds.push((Date.now() - phaseOneStart) / 1000);
  log(`phase 1 counted after ${phaseSeconds[0]} s`);

  // Phase 2: STOP by SMS, then the first provider goes down, then the balances re-cross.
  const phaseTwoStart = Date.now();
  await forEachLimited(
    accounts.filter((account) => account.stops),
    8,
    (account) => client.inboundSms(account.phone, "STOP"),
  );
  simulators.primary.knobs.serverErrorRate = 1;
  await forEachLimited(accounts, 16, async (account) => {
    switch (account.group) {
      case "A":
        await client.balance(account, "200.00");
        return client.balance(account, "40.00");
      case "B":
        await client.balance(account, "10.00");
        return client.balance(account, "-5.00");
      case "E":
        return client.balance(account, "60.00");
      case "C1":
      case "C2":
      case "C3":
      case "D":
        return undefined;
    }
  });
  const expectedAfterTwo = expectedCounts(2);
  await client.waitForCounts(expectedAfterTwo, fromDay, options.phaseTimeoutMs ?? 120_000, log);
  phaseSeconds.push((Date.now() - phaseTwoStart) / 1000);
  log(`phase 2 counted after ${phaseSeconds[1]} s`);
  simulators.primary.knobs.serverErrorRate = 0;

  // Anything still on its way (a duplicate SMS, a second count) would show within a few seconds.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const reported = await client.counts(fromDay);
  const references = new Map<string, number>();
  for (const message of [...simulators.primary.messages, ...simulators.secondary.messages]) {
    const reference = message.reference ?? `(no reference: ${message.sid})`;
    references.set(reference, (references.get(reference) ?? 0) + 1);
  }
  return {
    expected: expectedAfterTwo,
    reported,
    accepted: {
      primary: simulators.primary.messages.length,
      secondary: simulators.secondary.messages.length,
    },
    duplicateReferences: [...references].filter(([, count]) => count > 1).map(([reference]) => reference),
    phaseSeconds,
  };
}

type Group = "A" | "B" | "C1" | "C2" | "C3" | "D" | "E";

interface ScenarioAccount {
  readonly id: string;
  readonly group: Group;
  readonly phone: string;
  readonly timeZone: string;
  readonly marketing: boolean;
  /** Texts STOP in phase 2. */
  readonly stops: boolean;
}

function scenarioAccount(index: number, night: string, day: string): ScenarioAccount {
  const group: Group =
    index < 400
      ? "A"
      : index < 500
        ? "B"
        : index < 550
          ? "C1"
          : index < 600
            ? "C2"
            : index < 700
              ? "C3"
              : index < 800
                ? "D"
                : "E";
  return {
    id: `e2e-${String(index).padStart(4, "0")}`,
    group,
    phone: `+447911${String(index).padStart(6, "0")}`,
    timeZone: group === "C1" ? night : group === "C2" || group === "C3" ? day : "Europe/London",
    marketing: group === "C1" || group === "C3",
    stops: index < 40,
  };
}

/** What the read models must report once phase `phase` (1 or 2) has run its course. */
export function expectedCounts(phase: 1 | 2): ScenarioCounts {
  const rule = (counts: Partial<RuleCounts>): RuleCounts => ({ ...NO_COUNTS, ...counts });
  if (phase === 1) {
    return {
      rules: {
        // A 400 + B 100 + D 100
        "low-balance": rule({ qualified: 600, requested: 600, submitted: 600, delivered: 600 }),
        overdrawn: rule({ qualified: 100, requested: 100, submitted: 100, delivered: 100 }),
        "savings-offer": rule({
          qualified: 200,
          requested: 200,
          deferred: 50,
          suppressedOptedOut: 50,
          submitted: 100,
          delivered: 100,
        }),
      },
      providers: { primary: { submitted: 800, delivered: 800, undelivered: 0, failed: 0 } },
    };
  }
  const one = expectedCounts(1);
  return {
    rules: {
      // + A's second episode 400 (40 opted out, 360 within the cooldown) + E 200 (failed over)
      "low-balance": rule({
        qualified: 1200,
        requested: 1200,
        suppressedOptedOut: 40,
        suppressedFrequencyCap: 360,
        submitted: 800,
        delivered: 600,
        undelivered: 200,
      }),
      // + B's second episode, within the cooldown
      overdrawn: rule({
        qualified: 200,
        requested: 200,
        suppressedFrequencyCap: 100,
        submitted: 100,
        delivered: 100,
      }),
      "savings-offer": one.rules["savings-offer"] as RuleCounts,
    },
    providers: {
      ...one.providers,
      secondary: { submitted: 200, delivered: 0, undelivered: 200, failed: 0 },
    },
  };
}

const NO_COUNTS = Object.fromEntries(RULE_COUNTERS.map((counter) => [counter, 0])) as RuleCounts;

/** Zones covering every whole-hour offset from UTC−11 to UTC+14 (late November). */
const ZONES = [
  "Pacific/Pago_Pago",
  "Pacific/Honolulu",
  "America/Anchorage",
  "America/Los_Angeles",
  "America/Denver",
  "America/Chicago",
  "America/New_York",
  "America/Halifax",
  "America/Sao_Paulo",
  "America/Noronha",
  "Atlantic/Azores",
  "Europe/London",
  "Europe/Berlin",
  "Europe/Athens",
  "Europe/Moscow",
  "Asia/Dubai",
  "Asia/Karachi",
  "Asia/Dhaka",
  "Asia/Bangkok",
  "Asia/Shanghai",
  "Asia/Tokyo",
  "Australia/Brisbane",
  "Pacific/Noumea",
  "Pacific/Fiji",
  "Pacific/Auckland",
  "Pacific/Kiritimati",
];

/** A zone whose local hour at `atMs` passes `wanted` (hours chosen well inside or outside 21–08). */
function zoneAt(atMs: number, wanted: (hour: number) => boolean): string {
  const zone = ZONES.find((candidate) => wanted(localTime(atMs, candidate as TimeZone).hour));
  if (zone === undefined)
    throw new Error(`no zone with the wanted local hour at ${new Date(atMs).toISOString()}`);
  return zone;
}

function utcDayOf(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** The system's APIs as the scenario uses them; any answer but the expected one throws. */
class ScenarioClient {
  readonly #system: SystemProcess;
  /** Each account's last balance reference time: the next one must be later. */
  readonly #lastReferenceMs = new Map<string, number>();

  constructor(system: SystemProcess) {
    this.#system = system;
  }

  async command(method: string, path: string, body: unknown): Promise<void> {
    const response = await fetch(`${this.#system.commandUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.#system.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    }
    await response.arrayBuffer();
  }

  balance(account: ScenarioAccount, amount: string, atMs = Date.now()): Promise<void> {
    const referenceMs = Math.max(atMs, (this.#lastReferenceMs.get(account.id) ?? 0) + 1);
    this.#lastReferenceMs.set(account.id, referenceMs);
    return this.command("POST", `/accounts/${account.id}/balances`, {
      amount,
      currency: "GBP",
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: new Date(referenceMs).toISOString(),
    });
  }

  /** A customer's text reaching the first provider, forwarded to our inbound webhook, signed. */
  async inboundSms(from: string, body: string): Promise<void> {
    const url = `${this.#system.trackingUrl}/sms/inbound?provider=${PRIMARY.name}`;
    const form = { From: from, To: "Tidemark", Body: body, MessageSid: `SM${from.slice(1)}` };
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilioSignature(PRIMARY.authToken, url, form),
      },
      body: new URLSearchParams(form).toString(),
    });
    if (!response.ok)
      throw new Error(`inbound SMS from ${from}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  }

  async counts(fromDay: string): Promise<ScenarioCounts> {
    const range = `from=${fromDay}&to=${utcDayOf(Date.now() + 24 * 3_600_000)}`;
    const funnel = (await this.#query(`/reports/funnel?${range}`)) as {
      rows: FunnelReportRow[];
    };
    const providers = (await this.#query(`/reports/providers?${range}`)) as {
      rows: ProviderReportRow[];
    };
    const rules: Record<string, RuleCounts> = {};
    for (const row of funnel.rows) {
      const counts = (rules[row.ruleId] ??= { ...NO_COUNTS });
      for (const counter of RULE_COUNTERS) counts[counter] += row[counter];
    }
    const byProvider: Record<string, ProviderCounts> = {};
    for (const row of providers.rows) {
      const counts = (byProvider[row.provider] ??= { submitted: 0, delivered: 0, undelivered: 0, failed: 0 });
      for (const counter of ["submitted", "delivered", "undelivered", "failed"] as const) {
        counts[counter] += row[counter];
      }
    }
    return { rules, providers: byProvider };
  }

  /** Polls the reports until they show `expected` (or the time is up: the caller compares). */
  async waitForCounts(
    expected: ScenarioCounts,
    fromDay: string,
    timeoutMs: number,
    log: (message: string) => void,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastLog = Date.now();
    for (;;) {
      const counts = await this.counts(fromDay);
      if (JSON.stringify(sorted(counts)) === JSON.stringify(sorted(expected))) return;
      if (Date.now() > deadline) {
        log(`counts not as expected after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
        return;
      }
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`waiting: ${JSON.stringify(counts.rules)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async #query(path: string): Promise<unknown> {
    const response = await fetch(`${this.#system.queryUrl}${path}`, {
      headers: { authorization: `Bearer ${this.#system.apiKey}` },
    });
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }
}

/** The same counts with keys in one order, to compare as text. */
function sorted(counts: ScenarioCounts): unknown {
  const byKey = <T>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
  return { rules: byKey(counts.rules), providers: byKey(counts.providers) };
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure rejects. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
