import { randomUUID } from "node:crypto";
import type { AccountEvent } from "../domain/account/AccountEvent.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import type { AccountState } from "../domain/account/AccountState.ts";
import type { NotificationCommand } from "../domain/notification/NotificationCommand.ts";
import type { NotificationEvent } from "../domain/notification/NotificationEvent.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import { ruleNotificationId } from "../domain/notification/ruleNotificationId.ts";
import { epochMsToInstant, type Instant } from "../domain/values/Instant.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../domain/values/TimeZone.ts";
import type { EventStore, EventToAppend, JsonObject } from "../gateways/eventStore/EventStore.ts";

export interface EventLogShape {
  /** Accounts, each with a balance that walks up and down across the rules' thresholds. */
  readonly accounts: number;
  /** Stop once about this many events are written. */
  readonly events: number;
  /** Same seed, same log content (event ids aside). */
  readonly seed?: number;
  /** Concurrent appends, so streams interleave in the log as they do in production. */
  readonly writers?: number;
  readonly onProgress?: (written: number) => void;
  /** Account ids are `<prefix>-<n>` (default `gen`): another prefix adds accounts to an existing log. */
  readonly prefix?: string;
  /**
   * Time between two rounds of balances (default one hour). Shorter packs more of an account's
   * history into the same days: a few accounts with many events beside the others.
   */
  readonly stepMs?: number;
}

/**
 * Writes a realistic event log through the real deciders (in memory, then appended): accounts
 * opened, balances observed hour by hour over several days, qualifications and disqualifications,
 * a notification requested for each qualification and taken through its lifecycle — submitted
 * and delivered mostly; some undelivered, some failed over from provider `sim-a` to `sim-b`,
 * some suppressed by the frequency cap, some left to lapse into `unknown`. Marketing consent
 * changes now and then.
 * Returns how many events were written.
 */
export async function generateEventLog(
  store: EventStore,
  shape: EventLogShape,
  rules: readonly Rule[],
): Promise<number> {
  const random = mulberry32(shape.seed ?? 1);
  const accounts = accountDecider(rules);
  const rulesById = new Map(rules.map((rule) => [rule.id, rule]));
  const states = new Map<string, { state: AccountState; revision: number; balance: number }>();
  const queue: { streamId: string; expected: "no_stream" | number; events: EventToAppend[] }[] = [];
  let written = 0;
  const start = Date.UTC(2026, 10, 1, 6);
  let hour = 0;
  const stepMs = shape.stepMs ?? 3_600_000;
  const now = (offsetMs = 0): Instant => epochMsToInstant(start + hour * stepMs + offsetMs);
  const metadata = { correlationId: randomUUID(), actor: "generator" };
  const toAppend = (events: readonly { type: string; data: unknown }[]): EventToAppend[] =>
    events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as JsonObject, metadata }));

  const decideAccount = (accountId: string, command: AccountCommand): AccountEvent[] => {
    const current = states.get(accountId) ?? { state: accounts.initialState(), revision: -1, balance: 0 };
    const decision = accounts.decide(command, current.state);
    if (decision.outcome !== "accepted" || decision.events.length === 0) return [];
    let state = current.state;
    for (const event of decision.events) state = accounts.evolve(state, event);
    queue.push({
      streamId: `account-${accountId}`,
      expected: current.revision < 0 ? "no_stream" : current.revision,
      events: toAppend(decision.events),
    });
    states.set(accountId, { ...current, state, revision: current.revision + decision.events.length });
    return [...decision.events];
  };

  const notify = (accountId: string, ruleId: string, episode: number, phone: string) => {
    const rule = rulesById.get(ruleId);
    if (rule === undefined) return;
    const notificationId = ruleNotificationId(accountId, ruleId, episode);
    const commands: NotificationCommand[] = [
      {
        type: "RequestNotification",
        data: {
          notificationId,
          accountId,
          messageClass: rule.messageClass,
          rule: { ruleId, episode },
          templateId: rule.templateId,
          template: "Your balance is {{balance}}. Reply STOP to opt out.",
          variables: { balance: "£1.00" },
          recipient: phone as PhoneNumber,
          validUntil: now(24 * 3_600_000),
          now: now(),
        },
      },
    ];
    const fate = random();
    const id = { notificationId };
    if (fate < 0.05) {
      commands.push({
        type: "SuppressNotification",
        data: { ...id, reason: "frequency-cap", now: now(1000) },
      });
    } else {
      let attempt = 1;
      let provider = "sim-a";
      if (fate < 0.15) {
        commands.push({ type: "StartSmsSubmission", data: { ...id, attempt, provider, now: now(1000) } });
        commands.push({
          type: "RecordSmsSubmissionFailure",
          data: { ...id, attempt, provider, retryable: true, errorCode: "503", now: now(2000) },
        });
        attempt = 2;
        provider = "sim-b";
      }
      commands.push({ type: "StartSmsSubmission", data: { ...id, attempt, provider, now: now(3000) } });
      commands.push({
        type: "RecordSmsSubmission",
        data: {
          ...id,
          attempt,
          provider,
          providerMessageId: `SM${notificationId.slice(0, 8)}`,
          segments: 1,
          now: now(3500),
        },
      });
      const outcome = random();
      if (outcome < 0.05) {
        commands.push({ type: "ExpireToUnknown", data: { ...id, now: now(25 * 3_600_000) } });
      } else {
        const rawStatus = outcome < 0.12 ? "undelivered" : "delivered";
        const reportedAt = now(4000 + Math.floor(random() * 20_000));
        commands.push({
          type: "ReportSmsStatus",
          data: {
            ...id,
            provider,
            dialect: "twilio",
            rawStatus,
            errorCode: rawStatus === "delivered" ? null : "30003",
            via: "webhook",
            reportedAt,
          },
        });
      }
    }
    let state = notificationDecider.initialState();
    const events: NotificationEvent[] = [];
    for (const command of commands) {
      const decision = notificationDecider.decide(command, state);
      if (decision.outcome !== "accepted")
        throw new Error(`generator: ${command.type} refused: ${decision.detail}`);
      for (const event of decision.events) {
        state = notificationDecider.evolve(state, event);
        events.push(event);
      }
    }
    queue.push({
      streamId: notificationStreamId(notificationId),
      expected: "no_stream",
      events: toAppend(events),
    });
  };

  const flush = async () => {
    const writers = shape.writers ?? 16;
    // Appends of one stream stay in order: each writer takes whole streams.
    const byStream = new Map<string, typeof queue>();
    for (const append of queue.splice(0)) {
      const list = byStream.get(append.streamId) ?? [];
      list.push(append);
      byStream.set(append.streamId, list);
    }
    const lanes = [...byStream.values()];
    let next = 0;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (next < lanes.length) {
          const lane = lanes[next++] ?? [];
          for (const append of lane) {
            await store.append(append.streamId, append.expected, append.events);
            written += append.events.length;
          }
        }
      }),
    );
    shape.onProgress?.(written);
  };

  for (let index = 0; index < shape.accounts; index += 1) {
    const accountId = `${shape.prefix ?? "gen"}-${index}`;
    decideAccount(accountId, {
      type: "OpenAccount",
      data: {
        accountId,
        customerId: `cust-${index}`,
        phone: "+447911123456" as PhoneNumber,
        currency: "GBP",
        timeZone: "Europe/London" as TimeZone,
        consents: { service: true, marketing: random() < 0.5 },
        now: now(),
      },
    });
    const entry = states.get(accountId);
    if (entry !== undefined) entry.balance = Math.floor(random() * 300_00);
  }
  await flush();
  while (written < shape.events) {
    hour += 1;
    for (let index = 0; index < shape.accounts && written + queue.length * 3 < shape.events; index += 1) {
      const accountId = `${shape.prefix ?? "gen"}-${index}`;
      const entry = states.get(accountId);
      if (entry === undefined) continue;
      if (random() < 0.01) {
        decideAccount(accountId, {
          type: "ChangeConsent",
          data: { messageClass: "marketing", granted: random() < 0.5, source: "api", now: now() },
        });
      }
      entry.balance += Math.floor((random() - 0.5) * 120_00);
      const events = decideAccount(accountId, {
        type: "RecordBalance",
        data: {
          balance: { minor: BigInt(entry.balance), currency: "GBP" },
          balanceType: "InterimAvailable",
          creditLines: [],
          referenceTime: now(),
          source: "push",
          bankReference: null,
          now: now(),
        },
      });
      for (const event of events) {
        if (event.type === "AccountQualified")
          notify(accountId, event.data.ruleId, event.data.episode, "+447911123456");
      }
    }
    await flush();
  }
  return written;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
