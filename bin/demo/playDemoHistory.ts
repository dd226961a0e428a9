import { setTimeout as sleep } from "node:timers/promises";
import { ruleNotificationId } from "../../domain/notification/ruleNotificationId.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import { DemoClient, DemoStopped, notRunning, type Answer, type DemoEndpoints } from "./DemoClient.ts";
import {
  DEMO_CASES,
  planDemo,
  type DemoAccount,
  type DemoCase,
  type DemoPlan,
  type DemoStep,
} from "./demoPlan.ts";

export interface DemoOptions {
  readonly accounts: number;
  /** Ids, phones, cases and amounts follow from it: the same seed plays (and finds) the same accounts. */
  readonly seed: string;
  /** Accounts played at once. */
  readonly concurrency: number;
  readonly endpoints: DemoEndpoints;
  readonly apiKey: string;
  /** The rules in force: the demo crosses them, or stays clear of them, on purpose. */
  readonly rules: readonly Rule[];
  readonly onProgress?: (progress: DemoProgress) => void;
  /** Told once each when the demo has to take another way (no simulator, a refused balance). */
  readonly onNote?: (note: string) => void;
  readonly clock?: () => number;
}

export interface DemoProgress {
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
}

/** A few accounts of each case, by id; `suppressed` is the three kinds of suppression together. */
export type DemoExamples = Record<DemoCase | "suppressed", string[]>;

export interface DemoSummary {
  readonly seed: string;
  readonly accounts: number;
  /** Opened by this run, and already there from an earlier run with the same seed (left alone). */
  readonly played: number;
  readonly alreadyPresent: number;
  readonly requests: number;
  readonly seconds: number;
  /** Accounts per case as played; `accruing`: a sustained history the system refused as too old. */
  readonly cases: Readonly<Record<string, number>>;
  readonly examples: DemoExamples;
  /** The zones chosen for quiet hours (night: deferred; day: sent), when a rule has quiet hours. */
  readonly zones: DemoPlan["zones"];
  readonly notes: readonly string[];
}

/** What became of one account. */
interface Played {
  readonly account: DemoAccount;
  readonly present: boolean;
  /** Its sustained rule did not qualify: the system refused balances as old as its history. */
  readonly accruing: boolean;
}

/**
 * Plays a realistic history against a running system, only through its public APIs (and the
 * built-in simulators' admin routes): accounts opened, a few days of balances each, and then
 * per account one of the cases of `DemoCase` — an alert delivered, undelivered or failed,
 * suppressed (consent withdrawn, STOP texted, frequency cap), deferred by quiet hours, a pull from
 * the Banking API, a stale balance, or nothing at all. Every POST carries an Idempotency-Key
 * derived from the account and step: an account an earlier run with the seed opened is left alone.
 * @throws DemoStopped when the system does not answer, refuses the key, or answers nonsense.
 */
export async function playDemoHistory(options: DemoOptions): Promise<DemoSummary> {
  const clock = options.clock ?? Date.now;
  const startedAt = clock();
  const client = new DemoClient(options.endpoints, options.apiKey);
  const notes = new Set<string>();
  const note = (text: string) => {
    if (notes.has(text)) return;
    notes.add(text);
    options.onNote?.(text);
  };
  const capabilities = await checkSystem(client, options.endpoints, note);
  const plan = planDemo({
    seed: options.seed,
    accounts: options.accounts,
    nowMs: startedAt,
    rules: options.rules,
    canPull: capabilities.bankingSimulator,
  });
  for (const text of plan.notes) note(text);
  let done = 0;
  const played = await forEachLimited(plan.accounts, options.concurrency, async (account) => {
    const outcome = await playAccount(client, account, { ...capabilities, note });
    done += 1;
    options.onProgress?.({ done, total: plan.accounts.length, elapsedMs: clock() - startedAt });
    return outcome;
  });
  const summary = summarise(options, plan, played, note);
  return { ...summary, requests: client.requests, seconds: (clock() - startedAt) / 1000, notes: [...notes] };
}

interface Capabilities {
  readonly smsSimulator: boolean;
  readonly bankingSimulator: boolean;
  readonly smsWebhooks: boolean;
}

/** The command API answers and takes the key; which simulators and webhooks answer. */
async function checkSystem(
  client: DemoClient,
  endpoints: DemoEndpoints,
  note: (text: string) => void,
): Promise<Capabilities> {
  if (!(await client.answers("commandApi"))) throw notRunning(endpoints.commandApi);
  // The key, checked once, where a refusal is not a side effect: a query of an account nobody has.
  await client.query("/accounts/demo-key-check");
  const [smsSimulator, bankingSimulator, smsWebhooks] = await Promise.all([
    client.answers("smsSimulator"),
    client.answers("bankingSimulator"),
    client.answers("smsWebhooks"),
  ]);
  if (!smsSimulator) note("the SMS simulator does not answer: every outcome is left to the SMS provider");
  if (!smsWebhooks) note("the SMS webhooks do not answer: STOP goes through the consent API instead");
  return { smsSimulator, bankingSimulator, smsWebhooks };
}

interface AccountContext extends Capabilities {
  readonly note: (text: string) => void;
}

/** Opens the account and plays its steps; one an earlier run opened is left as it is. */
async function playAccount(
  client: DemoClient,
  account: DemoAccount,
  context: AccountContext,
): Promise<Played> {
  if (account.outcome !== undefined && context.smsSimulator) {
    expect(await client.pinOutcome(account.opening.phone, account.outcome), [204], "pin an SMS outcome");
  }
  const { accountId } = account;
  const opened = await client.command(
    "POST",
    "/accounts",
    { accountId, ...account.opening },
    `demo/${accountId}/open`,
  );
  const exists = problemOf(opened)?.reason === "account_already_exists";
  if (opened.replayed || exists || problemOf(opened)?.code === "idempotency_key_reused") {
    return { account, present: true, accruing: !(await qualified(client, account)) };
  }
  expect(opened, [201], `open ${accountId}`);
  let position = positionOf(opened);
  let refusedTooOld = 0;
  for (const [index, step] of account.steps.entries()) {
    const answer = await playStep(client, account, step, {
      ...context,
      key: `demo/${accountId}/${index}`,
      position,
    });
    if (answer === "too-old") refusedTooOld += 1;
    else if (answer !== undefined) position = positionOf(answer) ?? position;
  }
  return { account, present: false, accruing: account.sustainedRuleKey !== undefined && refusedTooOld > 0 };
}

/** Whether an account an earlier run played stands qualified under its sustained rule (if it has one). */
async function qualified(client: DemoClient, account: DemoAccount): Promise<boolean> {
  if (account.sustainedRuleKey === undefined) return true;
  const answer = expect(
    await client.query(`/accounts/${account.accountId}`),
    [200],
    `read ${account.accountId}`,
  );
  const qualifications = (answer.body as { qualifications?: Record<string, number> }).qualifications ?? {};
  return account.sustainedRuleKey in qualifications;
}

interface StepContext extends AccountContext {
  readonly key: string;
  /** The log position of the account's last write: what the read models must have passed. */
  readonly position: string | undefined;
}

/** One step; "too-old" when the system refused the balance as older than it accepts. */
async function playStep(
  client: DemoClient,
  account: DemoAccount,
  step: DemoStep,
  context: StepContext,
): Promise<Answer | "too-old" | undefined> {
  const { accountId, opening } = account;
  const path = `/accounts/${accountId}`;
  switch (step.kind) {
    case "push": {
      const balance = { amount: step.amount, currency: opening.currency, balanceType: "InterimAvailable" };
      const answer = await client.command(
        "POST",
        `${path}/balances`,
        { ...balance, referenceTime: step.referenceTime },
        context.key,
      );
      if (problemOf(answer)?.reason === "reference_time_out_of_bounds") return "too-old";
      return expectDone(answer, [202], `push a balance to ${accountId}`);
    }
    case "withdrawConsent":
      return expect(
        await client.command("PUT", `${path}/consents/${step.messageClass}`, { granted: false }),
        [200],
        `withdraw consent of ${accountId}`,
      );
    case "textStop":
      return textStop(client, account, context);
    case "pull": {
      expect(
        await client.setBankBalance(accountId, step.amount, opening.currency),
        [204],
        "set a bank balance",
      );
      return expectDone(
        await client.command("POST", `${path}/balance-refreshes`, {}, context.key),
        [202],
        `refresh ${accountId}`,
      );
    }
    case "awaitSent":
      await awaitSent(client, ruleNotificationId(accountId, step.ruleId, step.episode), context.note);
      return undefined;
    default:
      return unexpectedStep(step);
  }
}

/**
 * "STOP" by SMS, as the built-in simulator forwards it, once the accounts read model holds the
 * account (the webhook finds accounts by number there); the consent API where the webhooks do not
 * answer or do not take the simulator's signature (real SMS providers configured).
 */
async function textStop(
  client: DemoClient,
  account: DemoAccount,
  context: StepContext,
): Promise<Answer | undefined> {
  if (context.smsWebhooks) {
    const after = context.position === undefined ? "" : `?minPosition=${context.position}`;
    expect(await client.query(`/accounts/${account.accountId}${after}`), [200], `read ${account.accountId}`);
    const answer = await client.textStop(account.opening.phone, `SM-${account.accountId}`);
    if (answer.status === 200) return undefined;
    if (problemOf(answer)?.code !== "invalid_signature") expect(answer, [200], "text STOP");
    context.note(
      "the SMS webhooks refused the simulator's signature (real SMS providers?): STOP goes through the consent API",
    );
  }
  for (const messageClass of ["service", "marketing"]) {
    const answer = await client.command("PUT", `/accounts/${account.accountId}/consents/${messageClass}`, {
      granted: false,
    });
    expect(answer, [200], `withdraw consent of ${account.accountId}`);
  }
  return undefined;
}

const UNDECIDED = new Set(["requested", "deferred", "submitting"]);

/** Waits (a minute at most) until the notification went to a provider or was decided otherwise. */
async function awaitSent(
  client: DemoClient,
  notificationId: string,
  note: (text: string) => void,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const answer = await client.query(`/notifications/${notificationId}`);
    const status = (answer.body as { status?: string } | undefined)?.status;
    if (answer.status === 200 && status !== undefined && !UNDECIDED.has(status)) return;
    if (answer.status !== 200 && answer.status !== 404)
      expect(answer, [200], `read notification ${notificationId}`);
    await sleep(200);
  }
  note("an alert was not sent within a minute: a second alert may be sent rather than capped");
}

function unexpectedStep(step: never): never {
  throw new Error(`unknown step ${JSON.stringify(step)}`);
}

/** The problem+json `code` and `reason` of an answer, if it is one. */
function problemOf(answer: Answer): { code?: string; reason?: string } | undefined {
  return answer.status >= 400 ? (answer.body as { code?: string; reason?: string } | undefined) : undefined;
}

function positionOf(answer: Answer): string | undefined {
  const position = (answer.body as { position?: unknown } | undefined)?.position;
  return typeof position === "string" ? position : undefined;
}

/** The answer, when its status is one of `statuses`; otherwise the demo stops, saying what failed. */
function expect(answer: Answer, statuses: readonly number[], what: string): Answer {
  if (statuses.includes(answer.status)) return answer;
  throw new DemoStopped("failed", `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
}

/** As `expect`, but a key an earlier run used with other times (422 idempotency_key_reused) is done too. */
function expectDone(answer: Answer, statuses: readonly number[], what: string): Answer {
  return problemOf(answer)?.code === "idempotency_key_reused" ? answer : expect(answer, statuses, what);
}

/** The counts per case and the examples, as played. */
function summarise(
  options: DemoOptions,
  plan: DemoPlan,
  played: readonly Played[],
  note: (text: string) => void,
): Omit<DemoSummary, "requests" | "seconds" | "notes"> {
  const cases: Record<string, number> = {};
  const examples = Object.fromEntries(
    [...DEMO_CASES, "suppressed"].map((name) => [name, [] as string[]]),
  ) as DemoExamples;
  for (const { account, accruing } of played) {
    const demoCase = accruing ? "accruing" : account.demoCase;
    cases[demoCase] = (cases[demoCase] ?? 0) + 1;
    if (accruing) note(accruingNote(options.rules));
    if (!account.example || accruing) continue;
    examples[account.demoCase].push(account.accountId);
    if (["suppressedOptedOut", "stoppedBySms", "frequencyCapped"].includes(account.demoCase)) {
      examples.suppressed.push(account.accountId);
    }
  }
  const alreadyPresent = played.filter((entry) => entry.present).length;
  return {
    seed: options.seed,
    accounts: options.accounts,
    played: played.length - alreadyPresent,
    alreadyPresent,
    cases,
    examples,
    zones: plan.zones,
  };
}

function accruingNote(rules: readonly Rule[]): string {
  const sustained = rules.find((rule) => rule.kind === "sustained-at-or-above");
  const days = sustained?.kind === "sustained-at-or-above" ? sustained.days : 30;
  return (
    `the system refused balances older than its BALANCE_MAX_AGE_HOURS (default 168): ${sustained?.id ?? "the sustained rule"} ` +
    `needs ${days} days at or above its threshold, so those accounts are still accruing, and no offer is ` +
    `sent or deferred by quiet hours. Start the system with BALANCE_MAX_AGE_HOURS=${(days + 2) * 24} to see them.`
  );
}

/** Runs `work` over `items`, at most `limit` at a time, in order of the items; the first failure stops it. */
async function forEachLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
