import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import test, { type ExecutionContext } from "ava";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { logHead } from "../gateways/eventStore/logHead.ts";
import { createBankingApiSimulator } from "../gateways/banking/simulator/createBankingApiSimulator.ts";
import { createSmsProviderSimulator } from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { ROLES } from "../bin/roles.ts";
import { FANOUT_CONSUMERS } from "../reactors/consumerNames.ts";
import { allProjections } from "../projections/allProjections.ts";
import { liveBuilds, projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { liveBuildDigest } from "../projections/runtime/projectionDigest.ts";
import { createIsolatedServices } from "./isolatedServices.ts";
import { closeServer, listenOnLoopback } from "./loopbackServer.ts";
import { rebuildReadModels } from "./readModelDigests.ts";
import { startSystemProcess, type SystemProcess } from "./systemProcess.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Every role but the simulators: those run here, shared by both processes as a real bank's would be. */
const ROLES_BUT_SIMULATORS = ROLES.filter((role) => role !== "simulators");

const ACCOUNTS = 400;
const PROVIDER = { name: "provider", accountSid: `AC${"7".repeat(32)}`, authToken: "replicas-auth-token" };
const BANK_TOKEN = "replicas-bank-token";

/**
 * What each account goes through, by index mod 4: a pushed balance under low-balance's threshold
 * (0, 1: one SMS each), a refresh the bank answers under it (2: one SMS), a pushed balance well
 * above it (3: nothing).
 */
type Step = "low" | "refresh" | "high";
const stepOf = (index: number): Step => (["low", "low", "refresh", "high"] as const)[index % 4] as Step;
/** Unique to the run: the balance cache in Redis is shared with every other run and test. */
const RUN = randomBytes(3).toString("hex");
const accountId = (index: number) => `replica-${RUN}-${String(index).padStart(4, "0")}`;

test.serial(
  "two processes of every role on PostgreSQL, RabbitMQ and Redis, one SIGKILLed mid-flow: no event lost, no SMS twice, read models equal a rebuild",
  async (t) => {
    t.timeout(360_000);
    const services = await createIsolatedServices("replicas");
    const provider = createSmsProviderSimulator({
      ...PROVIDER,
      // Each answer takes 150 ms after the message is created: at the kill, messages are on their way.
      knobs: {
        sentAfterMs: 20,
        finalAfterMs: 50,
        answerAfterMs: 150,
        outcomes: { delivered: 1, undelivered: 0, failed: 0 },
      },
    });
    const bank = createBankingApiSimulator({ accessToken: BANK_TOKEN, knobs: { latencyMs: 20 } });
    const providerServer = await listenOnLoopback(provider.app);
    const bankServer = await listenOnLoopback(bank.app);
    const balancer = await startWebhookBalancer();
    const systems: SystemProcess[] = [];
    const pool = new pg.Pool({
      connectionString: services.env.DATABASE_URL,
      max: 2 * allProjections.length + 4,
    });
    const store = new PostgresEventStore(pool);
    try {
      const env = {
        ...services.env,
        REDIS_URL,
        SMS_PROVIDERS: JSON.stringify([{ ...PROVIDER, baseUrl: providerServer.url, from: "Tidemark" }]),
        SMS_WEBHOOK_BASE_URL: balancer.url,
        BANKING_API_URL: bankServer.url,
        BANKING_API_TOKEN: BANK_TOKEN,
      };
      // One after the other: both migrate the same schemas at start-up.
      systems.push(await startSystemProcess({ roles: ROLES_BUT_SIMULATORS, env }));
      systems.push(await startSystemProcess({ roles: ROLES_BUT_SIMULATORS, env }));
      const [doomed, survivor] = systems as [SystemProcess, SystemProcess];
      balancer.targets.push(doomed.trackingUrl, survivor.trackingUrl);
      const client = new ReplicaClient(systems);
      for (let index = 0; index < ACCOUNTS; index += 1) {
        if (stepOf(index) === "refresh")
          bank.script(accountId(index), [{ amount: "30.00", currency: "GBP" }]);
      }

      await forEachLimited(range(ACCOUNTS), 8, (index) => client.openAccount(index));
      t.log(`${ACCOUNTS} accounts open through both command APIs`);

      // The balances go out at about 40 a second; once both processes have handled messages of
      // every consumer and a third of them is out, one process dies with SIGKILL.
      const pacedFlow = forEachLimited(range(ACCOUNTS), 4, async (index) => {
        await client.step(index);
        await sleep(100);
      });
      // Awaited after the kill; a failure before then must not go unhandled meanwhile.
      pacedFlow.catch(() => undefined);
      const shared = await waitForSharing(systems, () => client.stepsDone >= ACCOUNTS / 3);
      t.log(
        `before the kill, ${client.stepsDone} steps done; handled per process: ${JSON.stringify(shared)}`,
      );
      for (const queue of FANOUT_CONSUMERS) {
        t.true(
          shared.every((handled) => (handled[queue] ?? 0) > 0),
          `both processes handled messages of ${queue} while both lived`,
        );
      }
      client.kill(doomed);
      balancer.targets.splice(0, 1);
      t.log(`SIGKILL to one process (pid ${doomed.child.pid}) at ${client.stepsDone} steps done`);
      await pacedFlow;
      t.log(`every step acknowledged; ${client.retriedOnSurvivor} retried on the survivor`);

      const expectedSms = range(ACCOUNTS).filter((index) => stepOf(index) !== "high").length;
      // A message on its way when its sender died is found by the survivor once its claim is 30 s
      // old, with the status it has at the provider by then (its delivery reports came before
      // anyone knew it was sent, and were refused).
      const settling = Date.now();
      await waitFor(
        "every SMS delivered and every read model at the log's head",
        180_000,
        async () =>
          provider.messages.length >= expectedSms &&
          (await readModelsAtHead(pool, store, survivor, expectedSms)),
        () => `${provider.messages.length} of ${expectedSms} SMS accepted`,
      );

      t.log(`settled ${(Date.now() - settling) / 1000} s after the last step`);
      const references = provider.messages.map((message) => message.reference);
      t.is(provider.messages.length, expectedSms, "one SMS per low balance, none more");
      t.is(new Set(references).size, references.length, "no notification sent twice");
      await assertNoEventLost(t, store, client.pushed);
      await assertReadModelsEqualRebuild(t, pool, store);
      t.log(
        `${[...bank.reads.values()].reduce((sum, count) => sum + count, 0)} bank reads; ${provider.callbacks.sent} status callbacks (${provider.callbacks.failed} refused or lost), ${balancer.retried} retried on the survivor`,
      );
    } catch (error) {
      for (const system of systems) t.log(system.output.slice(-25).join("\n"));
      throw error;
    } finally {
      await Promise.all(systems.map((system) => system.stop()));
      await store.close();
      await pool.end();
      provider.close();
      await Promise.all([providerServer, bankServer, balancer].map(({ server }) => closeServer(server)));
      await services.drop((message) => t.log(message));
    }
  },
);

/** The test's side of the load balancer: commands to any live process, a dead one's retried elsewhere. */
class ReplicaClient {
  readonly #live: SystemProcess[];
  #next = 0;
  stepsDone = 0;
  retriedOnSurvivor = 0;
  /** Each pushed balance's account and reference time, once its push was acknowledged. */
  readonly pushed = new Map<string, string>();

  constructor(systems: readonly SystemProcess[]) {
    this.#live = [...systems];
  }

  kill(system: SystemProcess): void {
    this.#live.splice(this.#live.indexOf(system), 1);
    system.child.kill("SIGKILL");
  }

  openAccount(index: number): Promise<void> {
    return this.#command("/accounts", {
      accountId: accountId(index),
      customerId: `customer-${index}`,
      phone: `+447911${String(index).padStart(6, "0")}`,
      currency: "GBP",
      timeZone: "Europe/London",
      consents: { service: true, marketing: false },
    });
  }

  async step(index: number): Promise<void> {
    const id = accountId(index);
    const step = stepOf(index);
    if (step === "refresh") {
      await this.#command(`/accounts/${id}/balance-refreshes`, {});
    } else {
      // Fixed before the first try: a retry of the same push is the same observation (a no-op).
      const referenceTime = new Date().toISOString();
      await this.#command(`/accounts/${id}/balances`, {
        amount: step === "low" ? "42.00" : "1000.00",
        currency: "GBP",
        balanceType: "InterimAvailable",
        creditLineIncluded: false,
        referenceTime,
      });
      this.pushed.set(id, referenceTime);
    }
    this.stepsDone += 1;
  }

  async #command(path: string, body: unknown): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const system = this.#live[this.#next++ % this.#live.length] as SystemProcess;
      const response = await fetch(`${system.commandUrl}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${system.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).catch((error: unknown) => error as Error);
      if (response instanceof Response && response.ok) {
        await response.arrayBuffer();
        return;
      }
      // Only a killed process's connection may fail; anything else is the system's error.
      const killed = !this.#live.includes(system);
      if (!killed || attempt > 3) {
        const what =
          response instanceof Response ? `${response.status} ${await response.text()}` : String(response);
        throw new Error(`POST ${path}: ${what}`);
      }
      this.retriedOnSurvivor += 1;
    }
  }
}

/**
 * A stand-in for the load balancer in front of the tracking role, as providers reach it: each
 * callback goes to the next live process, and to another when that one's connection fails.
 */
async function startWebhookBalancer(): Promise<{
  readonly server: Server;
  readonly url: string;
  readonly targets: string[];
  readonly retried: number;
}> {
  const targets: string[] = [];
  let next = 0;
  let retried = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      void (async () => {
        const headers = Object.fromEntries(
          Object.entries(request.headers).filter(
            (entry): entry is [string, string] => typeof entry[1] === "string" && entry[0] !== "host",
          ),
        );
        for (let attempt = 0; attempt < targets.length + 1; attempt += 1) {
          const target = targets[next++ % targets.length];
          const answer = await fetch(`${target}${request.url}`, {
            method: request.method ?? "POST",
            headers,
            body: Buffer.concat(chunks),
          }).catch(() => undefined);
          if (answer === undefined) {
            retried += 1;
            continue;
          }
          response.writeHead(answer.status, {
            "content-type": answer.headers.get("content-type") ?? "text/plain",
          });
          response.end(Buffer.from(await answer.arrayBuffer()));
          return;
        }
        response.writeHead(502).end();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    targets,
    get retried() {
      return retried;
    },
  };
}

/**
 * Polls both processes' `/metrics` until every consumer's messages were handled by both and
 * `enough()` holds; returns what each process had handled, by consumer.
 */
async function waitForSharing(
  systems: readonly SystemProcess[],
  enough: () => boolean,
): Promise<Record<string, number>[]> {
  let handled: Record<string, number>[] = [];
  await waitFor("both processes handling every consumer's messages", 120_000, async () => {
    handled = await Promise.all(systems.map(consumerMessagesOf));
    return enough() && FANOUT_CONSUMERS.every((queue) => handled.every((counts) => (counts[queue] ?? 0) > 0));
  });
  return handled;
}

/** Messages each consumer of the process finished with (any outcome), from its `/metrics`. */
async function consumerMessagesOf(system: SystemProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${system.metricsUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^tidemark_consumer_messages_total\{([^}]*)\} (\d+)/gm)) {
    const queue = /queue="tidemark\.([^"]+)"/.exec(match[1] as string)?.[1];
    if (queue !== undefined) counts[queue] = (counts[queue] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** True once every live build is at the log's head and tracking shows `delivered` SMS delivered. */
async function readModelsAtHead(
  pool: pg.Pool,
  store: PostgresEventStore,
  survivor: SystemProcess,
  delivered: number,
): Promise<boolean> {
  const head = await logHead(store);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const builds = await liveBuilds(db, projectionSchemas("tidemark"));
  if (builds.size !== allProjections.length || head === null) return false;
  if ([...builds.values()].some((build) => build.position !== head)) return false;
  const day = new Date().toISOString().slice(0, 10);
  const response = await fetch(`${survivor.queryUrl}/reports/providers?from=${day}&to=${day}`, {
    headers: { authorization: `Bearer ${survivor.apiKey}` },
  });
  const report = (await response.json()) as { rows: { delivered: number }[] };
  return report.rows.reduce((sum, row) => sum + row.delivered, 0) === delivered;
}

/** Every account opened once, and every acknowledged push in the log with its reference time. */
async function assertNoEventLost(
  t: ExecutionContext,
  store: PostgresEventStore,
  pushed: ReadonlyMap<string, string>,
): Promise<void> {
  const opened = new Map<string, number>();
  const observed = new Map<string, Set<string>>();
  let events = 0;
  for await (const event of store.readAll()) {
    events += 1;
    if (event.type === "AccountOpened") opened.set(event.streamId, (opened.get(event.streamId) ?? 0) + 1);
    if (event.type === "BalanceObserved") {
      const times = observed.get(event.streamId) ?? new Set<string>();
      times.add((event.data as { referenceTime: string }).referenceTime);
      observed.set(event.streamId, times);
    }
  }
  t.is(opened.size, ACCOUNTS, "every account opened");
  t.true(
    [...opened.values()].every((count) => count === 1),
    "and opened once",
  );
  const missing = [...pushed].filter(
    ([id, referenceTime]) =>
      ![...(observed.get(`account-${id}`) ?? [])].some((time) => sameInstant(time, referenceTime)),
  );
  t.deepEqual(missing, [], `every acknowledged push is in the log (${pushed.size} pushes, ${events} events)`);
  const refreshed = range(ACCOUNTS).filter(
    (index) => stepOf(index) === "refresh" && (observed.get(`account-${accountId(index)}`)?.size ?? 0) === 0,
  );
  t.deepEqual(refreshed, [], "every refreshed account has the bank's balance");
}

function sameInstant(a: string, b: string): boolean {
  return Date.parse(a) === Date.parse(b);
}

/** Each read model's live digest equals the digest of a fresh blue/green rebuild from the log. */
async function assertReadModelsEqualRebuild(
  t: ExecutionContext,
  pool: pg.Pool,
  store: PostgresEventStore,
): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const live = new Map<string, string | undefined>();
  for (const projection of allProjections) {
    live.set(projection.name, (await liveBuildDigest(db, projectionSchemas("tidemark"), projection))?.digest);
  }
  const rebuilt = await rebuildReadModels(pool, store, "replicacheck");
  try {
    t.deepEqual(
      Object.fromEntries(live),
      Object.fromEntries(rebuilt.digests),
      "every read model = a fresh rebuild",
    );
  } finally {
    await rebuilt.drop();
  }
}

async function waitFor(
  what: string,
  timeoutMs: number,
  done: () => Promise<boolean>,
  state: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not so after ${timeoutMs} ms: ${what}. ${state()}`);
    await sleep(250);
  }
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure rejects. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
