import { mkdir } from "node:fs/promises";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import type { Page } from "playwright-core";
import { playDemoHistory } from "../bin/demo/playDemoHistory.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import { seriousViolations } from "./browser/checkAccessibility.ts";
import {
  CASE_PHONE,
  CONSOLE_CASES,
  HOSTILE_BALANCE,
  playConsoleCases,
  writeRulesWithQuietWatch,
} from "./browser/consoleCases.ts";
import { launchChromium, type TestBrowser } from "./browser/launchChromium.ts";
import { createEmbeddedDataDir, type EmbeddedDataDir } from "./embeddedDataDir.ts";
import { freePort, startSystemProcess, type SystemProcess } from "./systemProcess.ts";

interface Context {
  readonly system: SystemProcess;
  readonly browser: TestBrowser;
  readonly dataDir: EmbeddedDataDir;
  readonly hostileNotificationId: string;
}

const test = anyTest as TestFn<Context>;
const READER_KEY = "tm_test_reader_0123456789abcdef0123456789";
const SCREENSHOTS = new URL("../console/screenshots/", import.meta.url);

test.before(async (t) => {
  t.timeout(240_000);
  // Each resource joins the context as soon as it exists, so `after.always` releases what a
  // failed start left behind.
  const context = t.context as { -readonly [K in keyof Context]?: Context[K] };
  context.dataDir = await createEmbeddedDataDir("console");
  const rulesFile = await writeRulesWithQuietWatch(context.dataDir.path);
  const [smsSimulatorPort, bankingSimulatorPort] = [await freePort(), await freePort()];
  context.system = await startSystemProcess({
    env: {
      TIDEMARK_DATA_DIR: context.dataDir.path,
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      TIDEMARK_RULES_FILE: rulesFile,
      SMS_SIMULATOR_PORT: String(smsSimulatorPort),
      BANKING_SIMULATOR_PORT: String(bankingSimulatorPort),
      // The demo's savings offers need 30 days of history (the default bound is 7 days).
      BALANCE_MAX_AGE_HOURS: String(32 * 24),
    },
    extraKeys: [{ name: "dashboard", key: READER_KEY, scopes: ["queries:read"] }],
  });
  // A history first (as `npm run demo` plays it), then the four stories the test reads.
  await playDemoHistory({
    accounts: 40,
    seed: "console",
    concurrency: 8,
    apiKey: context.system.apiKey,
    rules: await loadRules(rulesFile),
    endpoints: {
      commandApi: context.system.commandUrl,
      queryApi: context.system.queryUrl,
      smsWebhooks: context.system.trackingUrl,
      smsSimulator: `http://127.0.0.1:${smsSimulatorPort}`,
      bankingSimulator: `http://127.0.0.1:${bankingSimulatorPort}`,
    },
  });
  context.hostileNotificationId = (
    await playConsoleCases({ ...context.system, smsSimulatorUrl: `http://127.0.0.1:${smsSimulatorPort}` })
  ).hostileNotificationId;
  await waitForStories(context.system);
  context.browser = await launchChromium();
  await mkdir(SCREENSHOTS, { recursive: true });
});

test.after.always(async (t) => {
  const { browser, system, dataDir } = t.context as Partial<Context>;
  await browser?.close();
  await system?.stop();
  await dataDir?.dispose();
});

/** Waits until the read models tell every story to its end (delivered, suppressed, deferred). */
async function waitForStories(system: SystemProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  const wanted: Record<string, string> = {
    [CONSOLE_CASES.qualified]: "delivered",
    [CONSOLE_CASES.suppressed]: "suppressed",
    [CONSOLE_CASES.deferred]: "deferred",
  };
  for (;;) {
    const statuses = await Promise.all(
      Object.keys(wanted).map(async (accountId) => {
        const page = (await queryJson(system, `/notifications?accountId=${accountId}`, system.apiKey)) as {
          items?: { status: string; rule: unknown }[];
        };
        return page.items?.find((item) => item.rule !== null)?.status;
      }),
    );
    if (Object.values(wanted).every((status, index) => statuses[index] === status)) return;
    if (Date.now() > deadline) throw new Error(`stories not told after 60 s: ${JSON.stringify(statuses)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function queryJson(system: SystemProcess, path: string, key: string): Promise<unknown> {
  const response = await fetch(`${system.queryUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return response.json();
}

const pageProblems = new WeakMap<Page, string[]>();

/** A fresh page signed in with `key`; its script errors, CSP refusals and dialogs are kept for {@link checkedClose}. */
async function signedInPage(t: ExecutionContext<Context>, key: string): Promise<Page> {
  const page = await t.context.browser.context.newPage();
  const problems: string[] = [];
  pageProblems.set(page, problems);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 40[34]/.test(message.text())) problems.push(message.text());
  });
  page.on("dialog", (dialog) => {
    problems.push(`a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  t.teardown(() => page.close());
  await page.goto(`${t.context.system.queryUrl}/console/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
  return page;
}

/** Fails the test if the page logged a script error or CSP refusal or opened a dialog. */
function expectNoPageProblems(t: ExecutionContext<Context>, page: Page): void {
  t.deepEqual(pageProblems.get(page), [], "no script error, CSP refusal or dialog");
}

async function expectAccessible(t: ExecutionContext<Context>, page: Page, name: string): Promise<void> {
  t.deepEqual(await seriousViolations(page), [], `${name}: no serious or critical axe violations`);
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}

test.serial("the overview's numbers are the report API's, and the page is accessible", async (t) => {
  const page = await signedInPage(t, t.context.system.apiKey);
  await page.getByTestId("total-requested").waitFor();
  const from = new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
  const to = new Date().toISOString().slice(0, 10);
  const report = (await queryJson(
    t.context.system,
    `/reports/funnel?from=${from}&to=${to}`,
    t.context.system.apiKey,
  )) as {
    rows: Record<string, number>[];
  };
  const sum = (...fields: string[]) =>
    report.rows.reduce((total, row) => total + fields.reduce((s, f) => s + (row[f] ?? 0), 0), 0);
  t.true(sum("requested") >= 4, "the stories requested SMS");
  const shown = async (id: string) => (await page.getByTestId(id).textContent())?.replaceAll(/[^\d]/g, "");
  t.is(await shown("total-qualified"), String(sum("qualified")));
  t.is(await shown("total-requested"), String(sum("requested")));
  t.is(await shown("total-deferred"), String(sum("deferred")));
  t.is(await shown("total-delivered"), String(sum("delivered")));
  t.is(
    await shown("total-suppressed"),
    String(
      sum(
        "suppressedOptedOut",
        "suppressedFrequencyCap",
        "suppressedDuplicate",
        "suppressedBalanceRecovered",
        "suppressedStaleBalance",
      ),
    ),
  );
  const csv = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download the funnel as CSV" }).click();
  t.is((await csv).suggestedFilename(), "funnel.csv");
  await expectAccessible(t, page, "overview");
  expectNoPageProblems(t, page);
});

test.serial(
  "the customer page tells each story: qualified, suppressed, deferred, never crossed",
  async (t) => {
    const page = await signedInPage(t, t.context.system.apiKey);
    const open = async (accountId: string) => {
      await page.goto(`${t.context.system.queryUrl}/console/#/customer/${accountId}`);
      await page.getByTestId("timeline").locator("li").first().waitFor();
      await page.getByTestId("why-panel").locator("li").first().waitFor();
    };
    const timeline = () => page.getByTestId("timeline").innerText();
    const rule = (id: string) => page.getByTestId(`rule-${id}`);

    await open(CONSOLE_CASES.qualified);
    t.regex(await timeline(), /Qualified for rule low-balance .*episode 1.*42\.10 GBP/);
    t.regex(await timeline(), /reported the SMS delivered/);
    t.is(await rule("low-balance").getAttribute("data-state"), "qualified");
    t.regex(
      await rule("low-balance").innerText(),
      /waiting to re-arm once the balance rises above 150\.00 GBP.*delivered/s,
    );
    t.true(
      (await page.getByTestId("account-phone").innerText()).includes(CASE_PHONE),
      "admin sees the number",
    );
    await expectAccessible(t, page, "customer");

    await open(CONSOLE_CASES.suppressed);
    t.regex(await timeline(), /SMS not sent: the customer has not consented/);
    t.regex(await rule("low-balance").innerText(), /suppressed \(opted-out\).*does not consent to service/s);

    await open(CONSOLE_CASES.deferred);
    t.regex(await timeline(), /SMS held until .* because it is quiet hours in the customer's time zone/);
    t.is(await rule("quiet-watch").getAttribute("data-state"), "qualified");
    t.regex(await rule("quiet-watch").innerText(), /deferred until/);
    t.is(await rule("low-balance").getAttribute("data-state"), "not-applicable");
    t.regex(await rule("low-balance").innerText(), /this account is in CHF/);

    await open(CONSOLE_CASES.neverCrossed);
    t.notRegex(await timeline(), /Qualified|SMS/);
    for (const id of ["low-balance", "overdrawn"]) {
      t.is(await rule(id).getAttribute("data-state"), "armed");
      t.regex(
        await rule(id).innerText(),
        /Armed: alerts when the balance drops below .*the balance is 850\.00 GBP/s,
      );
    }
  },
);

test.serial("without pii:read the phone number is masked and SMS bodies withheld, everywhere", async (t) => {
  const page = await signedInPage(t, READER_KEY);
  await page.goto(`${t.context.system.queryUrl}/console/#/customer/${CONSOLE_CASES.qualified}`);
  await page.getByTestId("timeline").locator("li").first().waitFor();
  t.regex(await page.getByTestId("account-phone").innerText(), /\+44•+789 \(masked/);
  t.false((await page.content()).includes(CASE_PHONE));
  await page.goto(`${t.context.system.queryUrl}/console/#/notifications/${t.context.hostileNotificationId}`);
  t.is(await page.getByTestId("notification-body").innerText(), "withheld (needs pii:read)");
  t.false((await page.content()).includes(CASE_PHONE));
  expectNoPageProblems(t, page);
  expectNoPageProblems(t, page);
});

test.serial("a hostile SMS body is shown as text: nothing runs, nothing loads", async (t) => {
  const page = await signedInPage(t, t.context.system.apiKey);
  await page.goto(`${t.context.system.queryUrl}/console/#/notifications/${t.context.hostileNotificationId}`);
  const body = page.getByTestId("notification-body");
  await body.waitFor();
  t.true((await body.innerText()).includes(HOSTILE_BALANCE));
  t.is(await body.locator("script, img").count(), 0);
  t.is(await page.evaluate("window.__pwned"), undefined);
  await page.goto(`${t.context.system.queryUrl}/console/#/customer/${CONSOLE_CASES.qualified}`);
  await page.getByTestId("timeline").locator("li").first().waitFor();
  t.is(await page.getByTestId("timeline").locator("script, img").count(), 0);
  t.is(await page.evaluate("window.__pwned"), undefined);
  await page.goto(`${t.context.system.queryUrl}/console/#/notifications`);
  await page.getByTestId("notification-table").waitFor();
  await expectAccessible(t, page, "notifications");
  await page.goto(`${t.context.system.queryUrl}/console/#/notifications/${t.context.hostileNotificationId}`);
  await body.waitFor();
  await expectAccessible(t, page, "notification");
  expectNoPageProblems(t, page);
});

test.serial(
  "operations: read models, a rebuild with live progress, dead letters, providers, rules",
  async (t) => {
    const page = await signedInPage(t, t.context.system.apiKey);
    await page.goto(`${t.context.system.queryUrl}/console/#/operations`);
    await page.getByTestId("read-model-timeline").waitFor();
    const head = (await queryJson(t.context.system, "/operations/read-models", t.context.system.apiKey)) as {
      eventLogHead: string;
    };
    t.true((await page.getByTestId("log-head").innerText()) <= head.eventLogHead);
    t.regex(await page.getByTestId("read-model-timeline").innerText(), /live/);
    await page.getByTestId("dead-letters-empty").waitFor();
    t.regex(await page.getByTestId("provider-health").innerText(), /simulator/);
    t.regex(await page.getByTestId("rules-in-force").innerText(), /quiet-watch v1/);
    await expectAccessible(t, page, "operations");

    const seen = new Set<string>();
    const status = page.getByTestId("rebuild-timeline-status");
    await page.getByRole("button", { name: "Rebuild timeline" }).click();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const text = await status.innerText().catch(() => "");
      if (text !== "") seen.add(text);
      if (/^done/.test(text) || /^failed/.test(text) || Date.now() > deadline) break;
      await page.waitForTimeout(50);
    }
    const shown = [...seen];
    t.regex(shown.at(-1) ?? "", /^done: [\d,]+ of [\d,]+ events/, shown.join(" | "));
    t.true(
      shown.some((text) => text.startsWith("running")),
      `progress was shown while running: ${shown.join(" | ")}`,
    );
    // The rebuilt read model answers the customer page as before.
    await page.goto(`${t.context.system.queryUrl}/console/#/customer/${CONSOLE_CASES.qualified}`);
    await page.getByTestId("timeline").locator("li").first().waitFor();
    t.regex(await page.getByTestId("timeline").innerText(), /Qualified for rule low-balance/);
    expectNoPageProblems(t, page);
  },
);

test.serial("support finds a customer by phone number with pii:read", async (t) => {
  const page = await signedInPage(t, t.context.system.apiKey);
  await page.goto(`${t.context.system.queryUrl}/console/#/customer`);
  await page.getByLabel("Account id or phone number (+44…)").fill(CASE_PHONE);
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByTestId("account-card").waitFor();
  t.regex(await page.getByTestId("account-card").innerText(), /Account console-/);
  expectNoPageProblems(t, page);
});

test.serial("the console's responses carry a strict Content-Security-Policy", async (t) => {
  const response = await fetch(`${t.context.system.queryUrl}/console/`);
  const policy = response.headers.get("content-security-policy") ?? "";
  t.regex(policy, /default-src 'none'/);
  t.regex(policy, /script-src 'self'(;|$)/);
  t.notRegex(policy, /unsafe-inline|unsafe-eval/);
});

test.serial("the sign-in page refuses a wrong key and is accessible", async (t) => {
  const page = await t.context.browser.context.newPage();
  await page.goto(`${t.context.system.queryUrl}/console/`);
  await page.getByLabel("API key").fill("tm_not_a_key_0123456789abcdef");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  t.regex(await page.getByRole("alert").innerText(), /401/);
  await expectAccessible(t, page, "sign-in");
  await page.close();
});

// Last: it publishes a new version of the rule set, which the tests above must not see.
test.serial(
  "the rules page: the versions, a backtest of a raised threshold with its chart and table, publishing it as version 2 and its diff; accessible",
  async (t) => {
    t.timeout(120_000);
    const page = await signedInPage(t, t.context.system.apiKey);
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Rules" }).click();
    const versions = page.getByTestId("ruleset-versions");
    await versions.getByText("in force").waitFor();
    const candidate = page.getByTestId("candidate");
    await page.waitForFunction('document.querySelector("#candidate")?.value.includes("low-balance")');
    const current = JSON.parse(await candidate.inputValue()) as { rules: Record<string, unknown>[] };
    const raised = {
      ...current,
      rules: current.rules.map((rule) =>
        rule["id"] === "low-balance"
          ? {
              ...rule,
              version: Number(rule["version"]) + 1,
              thresholds: {
                ...(rule["thresholds"] as Record<string, unknown>),
                GBP: { below: "200.00", rearmAbove: "250.00" },
              },
            }
          : rule,
      ),
    };
    await candidate.fill(JSON.stringify(raised, null, 2));
    await page.getByRole("button", { name: "Run the backtest" }).click();
    const result = page.getByTestId("backtest-result");
    await result.waitFor({ timeout: 90_000 });
    const table = page.getByTestId("backtest-table");
    t.true((await table.locator("tbody tr").count()) > 0, "a row per day and rule");
    t.regex((await table.textContent()) ?? "", /low-balance/);
    await expectAccessible(t, page, "rules");

    await page.getByLabel("Why (kept with the version)").fill("alert below 200.00 in GBP");
    await page.getByRole("button", { name: /Publish as the next version/ }).click();
    await page.getByTestId("publish-outcome").getByText("Published as version 2.").waitFor();
    await versions.getByText("alert below 200.00 in GBP").waitFor();
    const diff = page.getByTestId("ruleset-diff");
    await diff.getByText("thresholds.GBP.below").waitFor();
    t.regex((await diff.textContent()) ?? "", /thresholds\.GBP\.below 100\.00 → 200\.00/);
    expectNoPageProblems(t, page);
  },
);
