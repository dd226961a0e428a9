import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { handleCommand } from "../../commands/handleCommand.ts";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { createBankingApiSimulator } from "../../gateways/banking/simulator/createBankingApiSimulator.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { openAccountCommand } from "../../test/accountCommands.ts";
import { createIsolatedServices } from "../../test/isolatedServices.ts";
import { startSystemProcess } from "../../test/systemProcess.ts";
import { median } from "../shared/median.ts";
import { parseBenchmarkFlags, wholeNumber } from "../shared/parseFlagValues.ts";

export const PULLS_BENCHMARK_FLAGS = `  --accounts N      accounts on the refresh schedule (default 100000)
  --rate N          reads a second the schedule asks for: its period is accounts / rate (default 1200:
                    above the 1,000 asked of the system, so that the figure is what it can do)
  --seconds N       measured seconds once the reads have started (default 60)
  --latency N       the Banking API simulator's answer time, ms (default 50)
  --concurrency N   BANKING_CONCURRENCY, refreshes at once (default 256)`;

const TOKEN = "bench-bank-token";
const DAY_MS = 86_400_000;

/**
 * `npm run bench -- pulls`: scheduled balance pulls at scale. A fresh database and RabbitMQ
 * virtual host; the Banking API simulator here, answering after `--latency` ms; the system in a
 * child process as `npm start -- projector relay scheduler banking query-api` runs it, the
 * schedule's period set so that `--accounts` accounts come due at `--rate` a second. Accounts are
 * opened through the account decider up front. Then, each second, the reads the bank answered and
 * the read models' lag; the figure is the reads a second over `--seconds` s from the first second with a tenth of the rate,
 * with every read model's lag beside it. Progress on stderr, a markdown report on stdout.
 */
export async function runPullBenchmark(args: readonly string[]): Promise<void> {
  const values = parseBenchmarkFlags(args, {
    accounts: { type: "string", default: "100000" },
    rate: { type: "string", default: "1200" },
    seconds: { type: "string", default: "60" },
    latency: { type: "string", default: "50" },
    concurrency: { type: "string", default: "256" },
  });
  const accounts = wholeNumber("--accounts", values.accounts, 100);
  const rate = wholeNumber("--rate", values.rate, 1);
  const seconds = wholeNumber("--seconds", values.seconds, 5);
  const latencyMs = wholeNumber("--latency", values.latency, 0);
  const concurrency = wholeNumber("--concurrency", values.concurrency, 1);
  const progress = (message: string) => process.stderr.write(`[pulls] ${message}\n`);
  // The schedule's shortest period is a minute: fewer accounts than a minute's reads ask less.
  const periodMs = Math.max(60_000, Math.round((accounts / rate) * 1000));
  const services = await createIsolatedServices("bench");
  let reads = 0;
  const simulator = createBankingApiSimulator({ accessToken: TOKEN, knobs: { latencyMs } });
  const handle = simulator.app.callback();
  const bank = createServer((request, response) => {
    if (request.url?.includes("/balances") === true) reads += 1;
    void handle(request, response);
  });
  await new Promise<void>((resolve) => bank.listen(0, "127.0.0.1", resolve));
  const bankUrl = `http://127.0.0.1:${(bank.address() as AddressInfo).port}`;
  const pool = new pg.Pool({ connectionString: services.env.DATABASE_URL, max: 40 });
  try {
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool);
    progress(`opening ${accounts} accounts`);
    const openedAt = Date.now() - DAY_MS;
    const decider = accountDecider([]);
    for (let next = 0; next < accounts; next += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, accounts - next) }, async (_, offset) => {
          const id = `pull-${next + offset}`;
          const outcome = await handleCommand(
            store,
            decider,
            `account-${id}`,
            openAccountCommand(id, openedAt),
            {
              newEventId: randomUUID,
              metadata: { correlationId: randomUUID(), actor: "bench" },
            },
          );
          if (outcome.outcome !== "accepted") throw new Error(`open ${id}: ${outcome.outcome}`);
        }),
      );
      if ((next / 200) % 50 === 0) progress(`  ${next} opened`);
    }
    progress(`starting the system: period ${periodMs / 1000} s, BANKING_CONCURRENCY ${concurrency}`);
    const system = await startSystemProcess({
      roles: ["projector", "relay", "scheduler", "banking", "query-api"],
      env: {
        ...services.env,
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
        BANKING_API_URL: bankUrl,
        BANKING_API_TOKEN: TOKEN,
        BANKING_CONCURRENCY: String(concurrency),
        SCHEDULED_REFRESH_PERIOD_MS: String(periodMs),
        SCHEDULED_REFRESH_FIRST_DELAY_MS: "0",
        LOG_LEVEL: "info",
      },
      startTimeoutMs: 180_000,
    });
    try {
      const lag = async (): Promise<number | undefined> => {
        const response = await fetch(`${system.queryUrl}/operations/read-models`, {
          headers: { authorization: `Bearer ${system.apiKey}` },
        });
        if (!response.ok) return undefined;
        const body = (await response.json()) as {
          readModels: { liveBuild: { lagEvents: number | null } | null }[];
        };
        return Math.max(...body.readModels.map((model) => model.liveBuild?.lagEvents ?? Number.NaN));
      };
      // The scheduler finds the accounts once the accounts read model has them, at one of its
      // ticks (every 5 s, its comparisons backing off): on a first start perhaps some at one tick
      // and the rest at later ones, each group then coming due spread over the period. The window
      // opens once the schedule holds every account and a second holds a tenth of the rate: the
      // steady state, not the start.
      progress(
        `waiting for all ${accounts} accounts on the schedule and a second of at least ${Math.ceil(rate / 10)} reads`,
      );
      const waitUntil = performance.now() + 180_000;
      for (let before = reads; ; before = reads) {
        await sleep(1000);
        if (reads - before >= rate / 10 && (await scheduled(pool)) >= accounts) break;
        if (performance.now() > waitUntil) throw new Error("the schedule not under way in 3 minutes");
      }
      const behindAtStart = await behind(pool);
      const samples: { reads: number; lag: number | undefined }[] = [];
      let last = reads;
      for (let second = 1; second <= seconds; second += 1) {
        await sleep(1000);
        const now = reads;
        samples.push({ reads: now - last, lag: await lag() });
        last = now;
        if (second % 10 === 0)
          progress(`  ${second} s: ${now} reads, lag ${String(samples.at(-1)?.lag)} events`);
      }
      const behindAtEnd = await behind(pool);
      const perSecond = samples.map((sample) => sample.reads);
      const lags = samples.map((sample) => sample.lag ?? Number.NaN);
      const total = perSecond.reduce((sum, count) => sum + count, 0);
      process.stdout.write(
        [
          `## Pull benchmark, ${new Date().toISOString()}`,
          "",
          `- ${accounts.toLocaleString("en")} accounts on the schedule, period ${periodMs / 1000} s (${Math.round(accounts / (periodMs / 1000))} due a second)`,
          `- Banking API simulator answering after ${latencyMs} ms; BANKING_CONCURRENCY ${concurrency}; roles projector, relay, scheduler, banking, query-api in one process`,
          "",
          "| measure | value |",
          "| --- | ---: |",
          `| reads a second, over ${seconds} s once under way | ${Math.round(total / seconds).toLocaleString("en")} |`,
          `| reads a second, median second | ${Math.round(median(perSecond)).toLocaleString("en")} |`,
          `| read models' lag, median (events) | ${String(Math.round(median(lags.filter((value) => !Number.isNaN(value)))))} |`,
          `| read models' lag, at the end (events) | ${String(lags.at(-1))} |`,
          `| refreshes due and not yet read, at the start | ${behindAtStart.toLocaleString("en")} |`,
          `| refreshes due and not yet read, at the end | ${behindAtEnd.toLocaleString("en")} |`,
          "",
          "Goal: at least 1,000 balance reads a second sustained, every read model current.",
          "",
        ].join("\n"),
      );
    } finally {
      await system.stop();
    }
  } finally {
    await pool.end();
    bank.closeAllConnections();
    bank.close();
    await services.drop(progress);
  }
}

/**
 * Refreshes due and not yet read: accounts whose due time has passed and whose request is not
 * made yet, and requests made and not yet answered (a balance or a failure). Growing through the
 * window: the system does not keep up with the rate asked.
 */
async function behind(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ overdue: string; unanswered: string }>(
    `select (select count(*) from tidemark_scheduler.refresh_schedule where next_due_at <= now()) as overdue,
            (select count(*) filter (where event_type = 'BalanceRefreshRequested')
                  - count(*) filter (where event_type in ('BalanceObserved', 'BalanceRefreshFailed'))
               from tidemark.events) as unanswered`,
  );
  return Number(rows[0]?.overdue ?? 0) + Number(rows[0]?.unanswered ?? 0);
}

/** Accounts on the refresh schedule (the scheduler's table, under the default schema prefix). */
async function scheduled(pool: pg.Pool): Promise<number> {
  const { rows } = await pool
    .query<{ members: string }>("select count(*) as members from tidemark_scheduler.refresh_schedule")
    .catch(() => ({ rows: [] as { members: string }[] }));
  return Number(rows[0]?.members ?? 0);
}
