import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createSmsProviderSimulator } from "../../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { createIsolatedServices } from "../../test/isolatedServices.ts";
import { closeServer, listenOnLoopback } from "../../test/loopbackServer.ts";
import { startSystemProcess } from "../../test/systemProcess.ts";
import { percentiles, type Percentiles } from "../projections/measureProjectionLatency.ts";
import { runOpenLoopLoad } from "../shared/runOpenLoopLoad.ts";

/** How the events travel from the log to the consumers. */
export type FanoutMode = "rabbitmq" | "in-process";

export interface BalanceToSmsSettings {
  readonly mode: FanoutMode;
  /** Balance pushes per second, each one qualifying a fresh account (one SMS each). */
  readonly rate: number;
  /** Measured seconds, after `warmupSeconds` of the same load whose SMS are not counted. */
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly log: (message: string) => void;
}

export interface BalanceToSmsRun {
  /** Balance pushed (request sent) → the SMS provider created the message, measured pushes only. */
  readonly latency: Percentiles;
  /** Pushes the command API accepted, and SMS the provider accepted for them (all pushes). */
  readonly pushed: number;
  readonly accepted: number;
}

const PROVIDER = { name: "bench", accountSid: `AC${"3".repeat(32)}`, authToken: "bench-auth-token" };
/** The roles on the path from a balance to an SMS, plus the projector and tracking that run beside them. */
export const BALANCE_TO_SMS_ROLES = [
  "command-api",
  "query-api",
  "projector",
  "relay",
  "qualification",
  "notification",
  "tracking",
];

/**
 * One run of the balance → SMS latency: a fresh database (and RabbitMQ virtual host), the system
 * in a child process as `npm start` runs it (events through RabbitMQ, or each consumer following
 * the log in-process), an SMS provider simulator in this process, and accounts opened up front.
 * Then an open-loop load pushes 50.00 GBP to one fresh account after another — each crosses the
 * low-balance rule, so each becomes exactly one SMS — and each push is timed from the moment its
 * request goes out until the simulator creates the message (the same clock: both are here).
 */
export async function measureBalanceToSms(settings: BalanceToSmsSettings): Promise<BalanceToSmsRun> {
  const { rate, log } = settings;
  const accounts = Math.round(rate * (settings.warmupSeconds + settings.seconds));
  const services = await createIsolatedServices("bench");
  const pushedAt = new Map<string, number>();
  const acceptedAt = new Map<string, number>();
  const simulator = createSmsProviderSimulator({
    ...PROVIDER,
    knobs: { outcomes: { delivered: 1, undelivered: 0, failed: 0 } },
    onAccepted: (message) => acceptedAt.set(message.to, performance.now()),
  });
  const provider = await listenOnLoopback(simulator.app);
  try {
    const system = await startSystemProcess({
      roles: BALANCE_TO_SMS_ROLES,
      env: {
        DATABASE_URL: services.env.DATABASE_URL,
        // RabbitMQ mode runs as a deployment would, with Redis; in-process as the embedded default, without.
        ...(settings.mode === "rabbitmq"
          ? { AMQP_URL: services.env.AMQP_URL, REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" }
          : {}),
        SMS_PROVIDERS: JSON.stringify([{ ...PROVIDER, baseUrl: provider.url, from: "Tidemark" }]),
        LOG_LEVEL: "info", // "Tidemark is running" is how the start is seen
      },
    });
    try {
      const headers = { authorization: `Bearer ${system.apiKey}`, "content-type": "application/json" };
      const phone = (index: number) => `+447911${String(index).padStart(6, "0")}`;
      log(`${settings.mode}: opening ${accounts} accounts`);
      for (let next = 0; next < accounts; next += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, accounts - next) }, async (_, offset) => {
            const index = next + offset;
            const response = await fetch(`${system.commandUrl}/accounts`, {
              method: "POST",
              headers,
              body: JSON.stringify({
                accountId: `bench-${index}`,
                customerId: `customer-${index}`,
                phone: phone(index),
                currency: "GBP",
                timeZone: "Europe/London",
                consents: { service: true, marketing: false },
              }),
            });
            if (response.status !== 201)
              throw new Error(`open account: ${response.status} ${await response.text()}`);
          }),
        );
      }
      await sleep(2000); // the projector catches up with the openings before the clock starts
      log(`${settings.mode}: ${rate} balance pushes/s for ${settings.warmupSeconds + settings.seconds} s`);
      let pushed = 0;
      const load = await runOpenLoopLoad({
        url: system.commandUrl,
        requestsPerSecond: rate,
        seconds: settings.warmupSeconds + settings.seconds,
        next: () => {
          const index = pushed++;
          pushedAt.set(phone(index), performance.now());
          return {
            method: "POST",
            path: `/accounts/bench-${index}/balances`,
            headers,
            body: JSON.stringify({
              amount: "50.00",
              currency: "GBP",
              balanceType: "InterimAvailable",
              creditLineIncluded: false,
              referenceTime: new Date().toISOString(),
            }),
          };
        },
        onAnswer: () => undefined,
      });
      const deadline = performance.now() + 30_000;
      while (acceptedAt.size < load.succeeded && performance.now() < deadline) await sleep(50);
      const warmup = Math.round(rate * settings.warmupSeconds);
      const latencies: number[] = [];
      for (let index = warmup; index < pushed; index += 1) {
        const sent = pushedAt.get(phone(index));
        const accepted = acceptedAt.get(phone(index));
        if (sent !== undefined && accepted !== undefined) latencies.push(accepted - sent);
      }
      return { latency: percentiles(latencies), pushed: load.succeeded, accepted: acceptedAt.size };
    } finally {
      await system.stop();
    }
  } finally {
    simulator.close();
    await closeServer(provider.server);
    await services.drop(log);
  }
}
