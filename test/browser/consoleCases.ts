import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from "../../bin/roles/simulatorDefaults.ts";

/** The accounts the console's browser test reads, one per story support is asked about. */
export const CONSOLE_CASES = {
  qualified: "console-qualified",
  suppressed: "console-suppressed",
  deferred: "console-deferred",
  neverCrossed: "console-never-crossed",
} as const;

export const CASE_PHONE = "+447911123789";

/** A body a hostile template variable makes: shown as text, it must never run or load anything. */
export const HOSTILE_BALANCE = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;

interface Api {
  readonly commandUrl: string;
  readonly apiKey: string;
  /** The SMS provider simulator, whose outcome for the stories' phone is pinned to delivered. */
  readonly smsSimulatorUrl: string;
}

/**
 * The shipped rules plus `quiet-watch`: a CHF-only service rule whose quiet hours cover the next
 * hours in UTC, so an alert it raises for a customer in UTC is deferred, never sent, whenever the
 * test runs. Written next to `dir`; returns the file's path.
 */
export async function writeRulesWithQuietWatch(dir: string, now = new Date()): Promise<string> {
  const shipped = await readFile(new URL("../../commands/rules/defaultRules.yaml", import.meta.url), "utf8");
  const clock = (hoursFromNow: number) =>
    new Date(now.getTime() + hoursFromNow * 3_600_000).toISOString().slice(11, 16);
  const rule = `
  - id: quiet-watch
    version: 1
    messageClass: service
    templateId: overdrawn
    kind: below
    cooldownHours: 24
    creditLines: excluded
    quietHours: { start: "${clock(-1)}", end: "${clock(3)}" }
    thresholds:
      CHF: { below: "50.00", rearmAbove: "60.00" }
`;
  const file = path.join(dir, "console-rules.yaml");
  await writeFile(file, `${shipped.trimEnd()}\n${rule}`);
  return file;
}

/** Plays the four stories through the command API; returns the hostile notification's id. */
export async function playConsoleCases(
  api: Api,
  now = new Date(),
): Promise<{ hostileNotificationId: string }> {
  // The simulator draws 5% of outcomes as undelivered or failed: the stories must not depend on it.
  await pinDelivered(api.smsSimulatorUrl, CASE_PHONE);
  const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000).toISOString();
  const open = (accountId: string, currency: string, timeZone: string, service: boolean) =>
    post(api, "/accounts", {
      accountId,
      customerId: `customer-${accountId}`,
      phone: CASE_PHONE,
      currency,
      timeZone,
      consents: { service, marketing: false },
    });
  const balance = (accountId: string, amount: string, currency: string, hours: number) =>
    post(api, `/accounts/${accountId}/balances`, {
      amount,
      currency,
      balanceType: "InterimAvailable",
      creditLineIncluded: false,
      referenceTime: hoursAgo(hours),
    });
  await open(CONSOLE_CASES.qualified, "GBP", "Europe/London", true);
  await open(CONSOLE_CASES.suppressed, "GBP", "Europe/London", false);
  await open(CONSOLE_CASES.deferred, "CHF", "UTC", true);
  await open(CONSOLE_CASES.neverCrossed, "GBP", "Europe/London", true);
  for (const [accountId, first, second, currency] of [
    [CONSOLE_CASES.qualified, "500.00", "42.10", "GBP"],
    [CONSOLE_CASES.suppressed, "500.00", "12.00", "GBP"],
    [CONSOLE_CASES.deferred, "300.00", "10.00", "CHF"],
    [CONSOLE_CASES.neverCrossed, "900.00", "850.00", "GBP"],
  ] as const) {
    await balance(accountId, first, currency, 3);
    await balance(accountId, second, currency, 2);
  }
  const hostileNotificationId = randomUUID();
  await post(api, "/notifications", {
    notificationId: hostileNotificationId,
    accountId: CONSOLE_CASES.qualified,
    messageClass: "service",
    templateId: "overdrawn",
    variables: { balance: HOSTILE_BALANCE },
  });
  return { hostileNotificationId };
}

async function post(api: Api, route: string, body: unknown): Promise<void> {
  const response = await fetch(`${api.commandUrl}${route}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${api.apiKey}`,
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${route}: ${response.status} ${await response.text()}`);
}

async function pinDelivered(smsSimulatorUrl: string, phone: string): Promise<void> {
  const credentials = Buffer.from(`${SIMULATOR_ACCOUNT_SID}:${SIMULATOR_AUTH_TOKEN}`).toString("base64");
  const response = await fetch(`${smsSimulatorUrl}/__admin/numbers/${encodeURIComponent(phone)}/outcome`, {
    method: "PUT",
    headers: { authorization: `Basic ${credentials}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ Outcome: "delivered" }).toString(),
  });
  if (response.status !== 204)
    throw new Error(`pinning ${phone}'s outcome: ${response.status} ${await response.text()}`);
}
