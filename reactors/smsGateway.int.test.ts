import pino from "pino";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import anyTest, { type TestFn } from "ava";
import { handleCommand } from "../commands/handleCommand.ts";
import { qualificationPolicy } from "./qualificationPolicy.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import type { AccountCommand } from "../domain/account/AccountCommand.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { ruleNotificationId } from "../domain/notification/ruleNotificationId.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../domain/values/TimeZone.ts";
import { openAccountCommand, recordBalanceCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import type { RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import { withMethods } from "../gateways/eventStore/withMethods.ts";
import {
  createSmsProviderSimulator,
  type SmsProviderSimulator,
} from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { smsGateway, SubmissionRetryError, type SmsGatewayOptions } from "./smsGateway.ts";
import { Kysely, PostgresDialect } from "kysely";
import type { TrackingTables } from "../projections/tracking/TrackingTables.ts";
import { batchedCountSentSince } from "../projections/tracking/trackingQueries.ts";
import { trackingProjection } from "../projections/tracking/trackingProjection.ts";
import { applyProjection } from "../test/applyProjection.ts";
import { createSmsWebhooks } from "./webhooks/createSmsWebhooks.ts";
import { DeferredWakeups } from "../gateways/sms/DeferredWakeups.ts";
import { wakeDue } from "./runDeferredWakeups.ts";
import { pollOnce } from "./runStatusPoller.ts";
import { ProviderUnavailableError, TwilioSmsProvider } from "../gateways/sms/TwilioSmsProvider.ts";
import { twilioSignature } from "../gateways/sms/twilioSignature.ts";

/** The SMS templates, as the gateway renders a message again with them. */
const TEMPLATES = await loadTemplates();

const ACCOUNT_SID = "AC00000000000000000000000000000009";
const TOKEN = "token";
// 10:00 in London (GMT) on a winter day: outside the test rule's quiet hours.
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

type Provider = { simulator: SmsProviderSimulator; server: Server; url: string };
type Context = TestEventStore & { primary: Provider; backup: Provider; rules: Rule[]; clockMs: number };
const test = anyTest as TestFn<Context>;

async function startProvider(): Promise<Provider> {
  const simulator = createSmsProviderSimulator({
    accountSid: ACCOUNT_SID,
    authToken: TOKEN,
    knobs: { sentAfterMs: 10_000, finalAfterMs: 10_000 }, // no callbacks during a test
  });
  const server = simulator.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return { simulator, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.primary = await startProvider();
  t.context.backup = await startProvider();
  t.context.clockMs = T0;
  // The shipped rules, with night-time quiet hours on the low-balance alert for the deferral test.
  t.context.rules = (await loadRules()).map((rule) =>
    rule.id === "low-balance" ? { ...rule, quietHours: { start: "21:00", end: "08:00" } } : rule,
  );
});

test.afterEach.always(async (t) => {
  for (const provider of [t.context.primary, t.context.backup]) {
    provider.simulator.close();
    provider.server.closeAllConnections();
    provider.server.close();
  }
  await t.context.dispose();
});

function provider(t: { context: Context }, which: "primary" | "backup", timeoutMs = 2000): TwilioSmsProvider {
  return new TwilioSmsProvider(
    {
      name: which,
      baseUrl: t.context[which].url,
      accountSid: ACCOUNT_SID,
      authToken: TOKEN,
      from: "Tidemark",
    },
    timeoutMs,
  );
}

function gateway(
  t: { context: Context },
  providers: SmsGatewayOptions["providers"] = [provider(t, "primary"), provider(t, "backup")],
) {
  return smsGateway(gatewayOptions(t, providers));
}

function gatewayOptions(
  t: { context: Context },
  providers: SmsGatewayOptions["providers"] = [provider(t, "primary"), provider(t, "backup")],
): SmsGatewayOptions {
  return {
    store: t.context.store,
    rules: fixedRules(t.context.rules),
    providers,
    statusCallbackUrl: "http://127.0.0.1:1/sms/status",
    templates: TEMPLATES,
    clock: () => t.context.clockMs,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  };
}

async function account(t: { context: Context }, accountId: string, command: AccountCommand): Promise<void> {
  const outcome = await handleCommand(
    t.context.store,
    accountDecider(t.context.rules),
    `account-${accountId}`,
    command,
    {
      newEventId: randomUUID,
      metadata: { correlationId: "c", actor: "test" },
    },
  );
  if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
}

/** An account whose balance drops to 50.00: the low-balance rule qualifies and the policy requests the SMS. */
async function requested(
  t: { context: Context },
  accountId: string,
  before?: () => Promise<void>,
): Promise<RecordedEvent> {
  await account(t, accountId, openAccountCommand(accountId, T0 - 60_000));
  await balance(t, accountId, "50.00", T0 - 30_000);
  const qualified = (await collect(t.context.store.readStream(`account-${accountId}`))).find(
    (event) => event.type === "AccountQualified",
  );
  if (qualified === undefined) throw new Error("no qualification");
  await qualificationPolicy({
    store: t.context.store,
    rules: fixedRules(t.context.rules),
    templates: await loadTemplates(),
    clock: () => T0 - 20_000,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).handle(qualified);
  await before?.();
  const [request] = await stream(t, accountId);
  if (request?.type !== "NotificationRequested") throw new Error("no request");
  return request;
}

function balance(t: { context: Context }, accountId: string, decimal: string, atMs: number): Promise<void> {
  return account(t, accountId, recordBalanceCommand(decimal, atMs));
}

const stream = (t: { context: Context }, accountId: string) =>
  collect(t.context.store.readStream(notificationStreamId(ruleNotificationId(accountId, "low-balance", 1))));
const types = async (t: { context: Context }, accountId: string) =>
  (await stream(t, accountId)).map((event) => event.type);

test("checks passed: claimed, sent to the first provider, recorded with its message id; a redelivery sends nothing more", async (t) => {
  const request = await requested(t, "acc-1");
  const handler = gateway(t);
  await handler.handle(request);
  await handler.handle(request);
  t.deepEqual(await types(t, "acc-1"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  const [message] = t.context.primary.simulator.messages;
  t.is(t.context.primary.simulator.messages.length, 1);
  t.like(message, {
    to: "+447911123456",
    body: "Your balance is £50.00, below £100.00. Reply STOP to opt out.",
  });
  t.like((await stream(t, "acc-1"))[2]?.data, { provider: "primary", providerMessageId: message?.sid });
  t.is(
    message?.reference,
    request.data.notificationId as string,
    "the status callback carries our reference",
  );
});

/** The store, with each `readStream` counted while under way: the most read at once, and which. */
function countingReads(t: { context: Context }, failing?: (streamId: string) => boolean) {
  const seen = { most: 0, underWay: 0, streams: [] as string[] };
  const store = withMethods(t.context.store, {
    readStream: (streamId, options) =>
      (async function* () {
        seen.underWay += 1;
        seen.most = Math.max(seen.most, seen.underWay);
        seen.streams.push(streamId);
        try {
          if (failing?.(streamId) === true) throw new Error(`reading ${streamId} failed`);
          yield* t.context.store.readStream(streamId, options);
        } finally {
          seen.underWay -= 1;
        }
      })(),
  });
  return { store, seen };
}

test("the account a request names is read beside the notification, not after it: one round trip for both", async (t) => {
  const request = await requested(t, "acc-1r");
  const { store, seen } = countingReads(t);
  await smsGateway({ ...gatewayOptions(t), store }).handle(request);
  t.deepEqual(await types(t, "acc-1r"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  t.true(seen.streams.includes("account-acc-1r"));
  t.is(seen.most, 2, "both reads were under way at once");
});

test("the frequency cap's count is asked beside the reads, for the window the request's rule has", async (t) => {
  const request = await requested(t, "acc-1c");
  const { store, seen } = countingReads(t);
  const asked: { ruleId: string; since: string; whileReading: boolean }[] = [];
  await smsGateway({
    ...gatewayOptions(t),
    store,
    sentSince: (_accountId, ruleId, since) => {
      asked.push({ ruleId, since, whileReading: seen.underWay > 0 });
      return Promise.resolve(0);
    },
  }).handle(request);
  t.deepEqual(await types(t, "acc-1c"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  const cooldownHours = t.context.rules.find((rule) => rule.id === "low-balance")?.cooldownHours ?? 0;
  t.true(cooldownHours > 0);
  t.deepEqual(asked, [
    {
      ruleId: "low-balance",
      since: epochMsToInstant(T0 - cooldownHours * 3_600_000),
      whileReading: true,
    },
  ]);
});

/**
 * The rules with a rule of low-balance's id in EUR, with a 1 h cooldown, first in the book: a
 * count asked before the GBP account was read is for that rule's window, not the account's.
 */
function sameIdElsewhereFirst(t: { context: Context }) {
  const lowBalance = t.context.rules.find((rule) => rule.id === "low-balance");
  if (lowBalance === undefined) throw new Error("no low-balance rule");
  const elsewhere = {
    ...lowBalance,
    cooldownHours: 1,
    threshold: { ...lowBalance.threshold, currency: "EUR" },
  };
  return {
    rules: fixedRules([elsewhere as Rule, ...t.context.rules]),
    guessedWindow: epochMsToInstant(T0 - 3_600_000),
    accountWindow: epochMsToInstant(T0 - lowBalance.cooldownHours * 3_600_000),
  };
}

test("a count asked beside the reads for another window than the account's is not taken: the account's window is counted", async (t) => {
  const request = await requested(t, "acc-1w");
  const { rules, guessedWindow, accountWindow } = sameIdElsewhereFirst(t);
  const asked: string[] = [];
  await smsGateway({
    ...gatewayOptions(t),
    rules,
    sentSince: (_accountId, _ruleId, since) => {
      asked.push(since);
      return Promise.resolve(since === accountWindow ? 1 : 0);
    },
  }).handle(request);
  t.deepEqual(asked, [guessedWindow, accountWindow]);
  t.deepEqual(await types(t, "acc-1w"), ["NotificationRequested", "NotificationSuppressed"]);
  t.like((await stream(t, "acc-1w"))[1]?.data, { reason: "frequency-cap" });
  t.is(t.context.primary.simulator.messages.length, 0);
});

test("a count asked beside the reads that fails fails the handling when the verdict needs it: nothing sent, redelivered later", async (t) => {
  const request = await requested(t, "acc-1x");
  const handling = smsGateway({
    ...gatewayOptions(t),
    sentSince: () => Promise.reject(new Error("the tracking read model is away")),
  }).handle(request);
  await t.throwsAsync(handling, { message: "the tracking read model is away" });
  t.deepEqual(await types(t, "acc-1x"), ["NotificationRequested"]);
  t.is(t.context.primary.simulator.messages.length, 0);
});

test("a count asked beside the reads for another window may fail: the account's window is counted, the SMS sent", async (t) => {
  const request = await requested(t, "acc-1y");
  const { rules, accountWindow } = sameIdElsewhereFirst(t);
  await smsGateway({
    ...gatewayOptions(t),
    rules,
    sentSince: (_accountId, _ruleId, since) =>
      since === accountWindow ? Promise.resolve(0) : Promise.reject(new Error("not this window")),
  }).handle(request);
  t.deepEqual(await types(t, "acc-1y"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  t.is(t.context.primary.simulator.messages.length, 1);
});

test("an account read that nobody needs may fail: a request already sent is left alone, nothing thrown", async (t) => {
  const request = await requested(t, "acc-1f");
  await gateway(t).handle(request);
  const { store, seen } = countingReads(t, (streamId) => streamId.startsWith("account-"));
  await t.notThrowsAsync(smsGateway({ ...gatewayOptions(t), store }).handle(request));
  t.true(seen.streams.includes("account-acc-1f"), "the read was begun");
  t.is(t.context.primary.simulator.messages.length, 1);
  // A failed read the checks do need fails the handling, to be redelivered.
  const second = await requested(t, "acc-1g");
  await t.throwsAsync(smsGateway({ ...gatewayOptions(t), store }).handle(second), {
    message: "reading account-acc-1g failed",
  });
  t.deepEqual(await types(t, "acc-1g"), ["NotificationRequested"]);
});

test("no consent for the class: suppressed as opted-out, nothing sent", async (t) => {
  const request = await requested(t, "acc-2", () =>
    account(t, "acc-2", {
      type: "ChangeConsent",
      data: {
        messageClass: "service",
        granted: false,
        source: "api",
        now: epochMsToInstant(T0 - 10_000),
      },
    }),
  );
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-2"), ["NotificationRequested", "NotificationSuppressed"]);
  t.like((await stream(t, "acc-2"))[1]?.data, { reason: "opted-out" });
  t.is(t.context.primary.simulator.messages.length, 0);
});

test("the balance recovered before sending: suppressed as balance-recovered", async (t) => {
  const request = await requested(t, "acc-3", () => balance(t, "acc-3", "200.00", T0 - 10_000));
  await gateway(t).handle(request);
  t.like((await stream(t, "acc-3"))[1]?.data, { reason: "balance-recovered" });
  t.is(t.context.primary.simulator.messages.length, 0);
});

test("inside the rule's quiet hours in the customer's time zone: deferred until they end", async (t) => {
  const request = await requested(t, "acc-4");
  t.context.clockMs = Date.UTC(2026, 0, 15, 23, 0, 0); // 23:00 in London
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-4"), ["NotificationRequested", "NotificationDeferred"]);
  t.like((await stream(t, "acc-4"))[1]?.data, { until: "2026-01-16T08:00:00.000Z", reason: "quiet-hours" });
  t.is(t.context.primary.simulator.messages.length, 0);
});

test("a provider outage: the attempt is recorded as retryable, and the redelivery fails over to the second provider", async (t) => {
  const request = await requested(t, "acc-5");
  t.context.primary.simulator.knobs.serverErrorRate = 1;
  const handler = gateway(t);
  await t.throwsAsync(handler.handle(request), { instanceOf: SubmissionRetryError });
  await handler.handle(request); // the fan-out's retry
  t.deepEqual(await types(t, "acc-5"), [
    "NotificationRequested",
    "SmsSubmissionStarted",
    "SmsSubmissionFailed",
    "SmsSubmissionStarted",
    "SmsSubmitted",
  ]);
  const events = await stream(t, "acc-5");
  t.like(events[2]?.data, { attempt: 1, provider: "primary", retryable: true });
  t.like(events[4]?.data, { attempt: 2, provider: "backup" });
  t.is(t.context.primary.simulator.messages.length, 0);
  t.is(t.context.backup.simulator.messages.length, 1);
});

test("an answer that never comes: the message is found at the provider, never sent again", async (t) => {
  const request = await requested(t, "acc-6");
  t.context.primary.simulator.knobs.timeoutRate = 1;
  await gateway(t, [provider(t, "primary", 300), provider(t, "backup")]).handle(request);
  t.deepEqual(await types(t, "acc-6"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  t.is(t.context.primary.simulator.messages.length + t.context.backup.simulator.messages.length, 1);
  t.like((await stream(t, "acc-6"))[2]?.data, {
    providerMessageId: t.context.primary.simulator.messages[0]?.sid,
  });
});

for (const [knob, what] of [
  ["connectionLostRate", "a connection cut after the provider created the message"],
  ["garbledAnswerRate", "a 201 whose body is cut short"],
] as const) {
  test(`${what}: the message is found at the provider, never sent again`, async (t) => {
    const account = `acc-6-${knob}`;
    const request = await requested(t, account);
    t.context.primary.simulator.knobs[knob] = 1;
    await gateway(t, [provider(t, "primary"), provider(t, "backup")]).handle(request);
    t.deepEqual(await types(t, account), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
    t.is(t.context.primary.simulator.messages.length + t.context.backup.simulator.messages.length, 1);
    t.like((await stream(t, account))[2]?.data, {
      providerMessageId: t.context.primary.simulator.messages[0]?.sid,
    });
  });
}

test("an error after which the message may exist, and it is not found: no failover at once; once the claim is abandoned it is looked up again, and only then does the backup send", async (t) => {
  const request = await requested(t, "acc-6-lookup");
  const { body, recipient } = request.data as { body: string; recipient: string };
  const primary = provider(t, "primary");
  // Already at the provider: this body to another number, and another body to this number.
  await primary.send({ to: "+447911999999", body, statusCallback: "http://127.0.0.1:1/x" });
  await primary.send({
    to: recipient,
    body: `${body} (an older one)`,
    statusCallback: "http://127.0.0.1:1/x",
  });
  let lookups = 0;
  const lost = {
    name: primary.name,
    turn: primary.turn.bind(primary),
    // The answer never came; the provider did not create it (or has not yet).
    send: () => Promise.reject(new ProviderUnavailableError("timeout", "primary: no answer", true)),
    findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => {
      lookups += 1;
      return primary.findSent(sent);
    },
  };
  await t.throwsAsync(gateway(t, [lost, provider(t, "backup")]).handle(request), {
    instanceOf: SubmissionRetryError,
  });
  t.is(lookups, 1);
  t.deepEqual(
    await types(t, "acc-6-lookup"),
    ["NotificationRequested", "SmsSubmissionStarted"],
    "still in flight",
  );
  await t.throwsAsync(gateway(t, [lost, provider(t, "backup")]).handle(request), {
    instanceOf: SubmissionRetryError,
  });
  t.is(t.context.backup.simulator.messages.length, 0, "a young claim: nothing sent elsewhere");
  t.context.clockMs += 31_000;
  await gateway(t, [lost, provider(t, "backup")]).handle(request);
  t.is(lookups, 2);
  t.deepEqual(await types(t, "acc-6-lookup"), [
    "NotificationRequested",
    "SmsSubmissionStarted",
    "SmsSubmissionFailed",
    "SmsSubmissionStarted",
    "SmsSubmitted",
  ]);
  t.like((await stream(t, "acc-6-lookup"))[4]?.data, {
    provider: "backup",
    providerMessageId: t.context.backup.simulator.messages[0]?.sid,
  });
});

test("the balance fell further after the alert was requested (same episode): the SMS states the balance as it is when it goes, and the claim records that body", async (t) => {
  const request = await requested(t, "acc-restate");
  await balance(t, "acc-restate", "3.00", T0 - 10_000);
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-restate"), [
    "NotificationRequested",
    "SmsSubmissionStarted",
    "SmsSubmitted",
  ]);
  const sent = t.context.primary.simulator.messages[0];
  t.regex(sent?.body ?? "", /£3\.00/);
  t.notRegex(sent?.body ?? "", /£50\.00/);
  t.like((await stream(t, "acc-restate"))[1]?.data, {
    restated: { variables: { balance: "£3.00" }, body: sent?.body },
  });
});

test("the balance rose to 120.00 after the alert was requested (the episode lasts until 150.00): 'below £100.00' is not true now, so it waits and is looked at again; at 30.00 it says so", async (t) => {
  const request = await requested(t, "acc-risen");
  await balance(t, "acc-risen", "120.00", T0 - 10_000);
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-risen"), ["NotificationRequested", "NotificationDeferred"]);
  t.like((await stream(t, "acc-risen"))[1]?.data, {
    reason: "balance-in-band",
    until: new Date(T0 + 15 * 60_000).toISOString(),
  });
  t.is(t.context.primary.simulator.messages.length, 0);
  // Down again within the same episode: no new qualification would come, this alert is the one.
  await balance(t, "acc-risen", "30.00", T0 + 60_000);
  t.context.clockMs = T0 + 16 * 60_000;
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-risen"), [
    "NotificationRequested",
    "NotificationDeferred",
    "SmsSubmissionStarted",
    "SmsSubmitted",
  ]);
  t.regex(t.context.primary.simulator.messages[0]?.body ?? "", /£30\.00/);
});

test("findSent: Twilio's list by recipient, matched on the body and on a creation no earlier than a minute before the claim", async (t) => {
  const primary = provider(t, "primary");
  const to = "+447911555555";
  const sent = await primary.send({ to, body: "exactly this", statusCallback: "http://127.0.0.1:1/x" });
  await primary.send({ to, body: "exactly this, and more", statusCallback: "http://127.0.0.1:1/x" });
  const sids = async (since: number, body = "exactly this") =>
    (await primary.findSent({ to, body, since })).map((message) => message.sid);
  t.deepEqual(await sids(Date.now() - 5_000), [sent.sid]);
  t.deepEqual(await sids(Date.now() + 30_000), [sent.sid], "a provider's clock a little behind ours");
  t.deepEqual(await sids(Date.now() + 120_000), [], "created well before the claim: not this attempt's");
  t.deepEqual(await sids(Date.now() - 5_000, "exactly"), []);
});

test("a provider that refuses our account (rotated credentials: 401, Twilio 20003): the attempt is retryable and the backup sends", async (t) => {
  const request = await requested(t, "acc-6-auth");
  const rotated = new TwilioSmsProvider({
    name: "primary",
    baseUrl: t.context.primary.url,
    accountSid: ACCOUNT_SID,
    authToken: "an-old-token",
    from: "Tidemark",
  });
  await t.throwsAsync(gateway(t, [rotated, provider(t, "backup")]).handle(request), {
    instanceOf: SubmissionRetryError,
  });
  await gateway(t, [rotated, provider(t, "backup")]).handle(request); // the fan-out's retry
  t.like((await stream(t, "acc-6-auth"))[2]?.data, {
    provider: "primary",
    retryable: true,
    errorCode: "20003",
  });
  t.like((await stream(t, "acc-6-auth"))[4]?.data, { provider: "backup" });
  t.is(t.context.backup.simulator.messages.length, 1);
});

test("a provider that refuses the connection: the attempt fails without a lookup, and the backup sends once", async (t) => {
  const request = await requested(t, "acc-6-refused");
  const closed = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => closed.once("listening", resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve)); // nothing listens there any more
  const refusing = new TwilioSmsProvider({
    name: "primary",
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid: ACCOUNT_SID,
    authToken: TOKEN,
    from: "Tidemark",
  });
  let lookups = 0;
  const counted = {
    name: refusing.name,
    turn: refusing.turn.bind(refusing),
    send: refusing.send.bind(refusing),
    findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => {
      lookups += 1;
      return refusing.findSent(sent);
    },
  };
  await t.throwsAsync(gateway(t, [counted, provider(t, "backup")]).handle(request), {
    instanceOf: SubmissionRetryError,
  });
  await gateway(t, [counted, provider(t, "backup")]).handle(request); // the fan-out's retry
  t.is(lookups, 0, "a connection never made cannot have created a message");
  t.like((await stream(t, "acc-6-refused"))[2]?.data, { provider: "primary", errorCode: "network" });
  t.is(t.context.backup.simulator.messages.length, 1);
});

/** `real`, but the gateway "dies" once the provider has the message, before recording its answer. */
function killedAfterSending(real: TwilioSmsProvider) {
  return {
    name: real.name,
    findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => real.findSent(sent),
    turn: real.turn.bind(real),
    send: async (message: Parameters<TwilioSmsProvider["send"]>[0]) => {
      await real.send(message);
      throw new Error("killed before recording the answer");
    },
  };
}

test("a gateway killed between the provider's answer and recording it: the redelivery reconciles instead of sending again", async (t) => {
  const request = await requested(t, "acc-7");
  const real = provider(t, "primary");
  const crashing = killedAfterSending(real);
  await t.throwsAsync(gateway(t, [crashing, provider(t, "backup")]).handle(request), {
    message: "killed before recording the answer",
  });
  t.deepEqual(await types(t, "acc-7"), ["NotificationRequested", "SmsSubmissionStarted"]);
  // Redelivered at once: the claim is too young to tell a crash from a delivery still sending.
  await t.throwsAsync(gateway(t).handle(request), { instanceOf: SubmissionRetryError });
  t.context.clockMs += 31_000;
  await gateway(t).handle(request); // redelivered to a restarted gateway, the claim abandoned
  t.deepEqual(await types(t, "acc-7"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  t.is(t.context.primary.simulator.messages.length, 1, "one SMS");
  t.is(t.context.backup.simulator.messages.length, 0);
});

test("a message found at the provider after its sender died is recorded with the status it has there: its reports, refused meanwhile, are not waited for", async (t) => {
  const request = await requested(t, "acc-7c");
  const real = provider(t, "primary");
  Object.assign(t.context.primary.simulator.knobs, {
    sentAfterMs: 5,
    finalAfterMs: 5,
    outcomes: { delivered: 1, undelivered: 0, failed: 0 },
  });
  const crashing = killedAfterSending(real);
  await t.throwsAsync(gateway(t, [crashing]).handle(request), {
    message: "killed before recording the answer",
  });
  const sent = t.context.primary.simulator.messages[0];
  for (let waited = 0; sent?.status !== "delivered" && waited < 5000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.is(sent?.status, "delivered", "delivered at the provider before anyone knew it was sent");
  t.context.clockMs += 31_000;
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-7c"), [
    "NotificationRequested",
    "SmsSubmissionStarted",
    "SmsSubmitted",
    "SmsStatusReported",
  ]);
  t.like((await stream(t, "acc-7c"))[3]?.data, { status: "delivered", via: "poll", provider: "primary" });
  t.is(t.context.primary.simulator.messages.length, 1, "one SMS");
});

test("a gateway killed after its claim, before calling the provider: the abandoned claim is looked up, recorded failed, and the next attempt sends once", async (t) => {
  const request = await requested(t, "acc-7b");
  const real = provider(t, "primary");
  const crashing = {
    name: real.name,
    findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => real.findSent(sent),
    turn: real.turn.bind(real),
    send: () => Promise.reject(new Error("killed before calling the provider")),
  };
  await t.throwsAsync(gateway(t, [crashing, provider(t, "backup")]).handle(request), {
    message: "killed before calling the provider",
  });
  t.context.clockMs += 31_000;
  await gateway(t).handle(request);
  t.deepEqual(await types(t, "acc-7b"), [
    "NotificationRequested",
    "SmsSubmissionStarted",
    "SmsSubmissionFailed",
    "SmsSubmissionStarted",
    "SmsSubmitted",
  ]);
  t.like((await stream(t, "acc-7b"))[2]?.data, { attempt: 1, retryable: true, errorCode: "abandoned" });
  t.is(
    t.context.primary.simulator.messages.length + t.context.backup.simulator.messages.length,
    1,
    "one SMS",
  );
});

test("a duplicate delivered while the first delivery waits for the provider: it is retried later, never sent twice", async (t) => {
  const request = await requested(t, "acc-7c");
  const real = provider(t, "primary");
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const slow = {
    name: real.name,
    findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => real.findSent(sent),
    turn: real.turn.bind(real),
    send: async (message: Parameters<TwilioSmsProvider["send"]>[0]) => {
      await released;
      return real.send(message);
    },
  };
  const first = gateway(t, [slow, provider(t, "backup")]).handle(request);
  while (!(await types(t, "acc-7c")).includes("SmsSubmissionStarted")) await sleep(10);
  // The duplicate finds the claim in flight; looking the message up now would not find it yet.
  await t.throwsAsync(gateway(t).handle(request), { instanceOf: SubmissionRetryError });
  release();
  await first;
  await gateway(t).handle(request); // the duplicate's retry: already submitted, nothing to do
  t.deepEqual(await types(t, "acc-7c"), ["NotificationRequested", "SmsSubmissionStarted", "SmsSubmitted"]);
  t.is(
    t.context.primary.simulator.messages.length + t.context.backup.simulator.messages.length,
    1,
    "one SMS",
  );
});

/** The status webhook on a loopback port (signatures are checked over its public URL). */
async function startStatusWebhook(t: {
  context: Context;
}): Promise<{ publicUrl: string; close: () => void }> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms/status`;
  const handle = createSmsWebhooks({
    store: t.context.store,
    providers: [{ name: "primary", authToken: TOKEN }],
    publicBaseUrl: publicUrl.slice(0, -"/sms/status".length),
    rules: fixedRules(t.context.rules),
    findAccountsByPhone: () => Promise.resolve([]),
    clock: () => t.context.clockMs,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).callback();
  server.on("request", (incoming, outgoing) => void handle(incoming, outgoing));
  return {
    publicUrl,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test("delivery reports come back through the signed webhook; forged, foreign and replayed ones change nothing", async (t) => {
  const { publicUrl, close } = await startStatusWebhook(t);
  try {
    const request = await requested(t, "acc-8");
    Object.assign(t.context.primary.simulator.knobs, {
      sentAfterMs: 10,
      finalAfterMs: 10,
      outcomes: { delivered: 1, undelivered: 0, failed: 0 },
    });
    await smsGateway({
      store: t.context.store,
      rules: fixedRules(t.context.rules),
      providers: [provider(t, "primary")],
      statusCallbackUrl: publicUrl,
      templates: TEMPLATES,
      clock: () => t.context.clockMs,
      newEventId: randomUUID,
      logger: pino({ level: "silent" }),
    }).handle(request);
    // "sent" and "delivered" come 10 ms apart and may be handled in either order: a "sent" after
    // "delivered" is absorbed by the forward-only lifecycle. Wait for the final one.
    const deliveredYet = async () =>
      (await stream(t, "acc-8")).some(
        (event) => event.type === "SmsStatusReported" && event.data.status === "delivered",
      );
    const callbacksDone = () =>
      t.context.primary.simulator.callbacks.sent + t.context.primary.simulator.callbacks.failed >= 2;
    for (let waited = 0; !((await deliveredYet()) && callbacksDone()) && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const reported = (await stream(t, "acc-8")).slice(3);
    t.deepEqual((await types(t, "acc-8")).slice(0, 3), [
      "NotificationRequested",
      "SmsSubmissionStarted",
      "SmsSubmitted",
    ]);
    t.true(reported.length >= 1 && reported.every((event) => event.type === "SmsStatusReported"));
    t.like(reported.at(-1)?.data, { status: "delivered", rawStatus: "delivered", via: "webhook" });
    t.is(t.context.primary.simulator.callbacks.sent, 2);

    const sid = t.context.primary.simulator.messages[0]?.sid ?? "";
    const url = `${publicUrl}?reference=${encodeURIComponent(JSON.stringify(request.data.notificationId).slice(1, -1))}&provider=primary`;
    const post = (params: Record<string, string>, signature: string) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
        body: new URLSearchParams(params).toString(),
      });
    const delivered = { MessageSid: sid, MessageStatus: "delivered", AccountSid: ACCOUNT_SID };
    t.is(
      (await post({ ...delivered, MessageStatus: "undelivered" }, twilioSignature(TOKEN, url, delivered)))
        .status,
      403,
      "forged",
    );
    t.is(
      (await post(delivered, twilioSignature("not-the-token", url, delivered))).status,
      403,
      "wrong token",
    );
    const foreign = { ...delivered, MessageSid: "SM0000" };
    t.is((await post(foreign, twilioSignature(TOKEN, url, foreign))).status, 409, "another message");
    t.is(
      (await post(delivered, twilioSignature(TOKEN, url, delivered))).status,
      204,
      "a replay is answered…",
    );
    const late = { ...delivered, MessageStatus: "sent" };
    t.is((await post(late, twilioSignature(TOKEN, url, late))).status, 204, "…and so is a late report…");
    t.is((await types(t, "acc-8")).length, 3 + reported.length, "…but neither changes anything");
  } finally {
    close();
  }
});

test("a report that overtakes the recording of the provider's answer waits for it and is taken, not refused", async (t) => {
  const { publicUrl, close } = await startStatusWebhook(t);
  try {
    const request = await requested(t, "acc-8b");
    Object.assign(t.context.primary.simulator.knobs, {
      sentAfterMs: 10,
      finalAfterMs: 10,
      outcomes: { delivered: 1, undelivered: 0, failed: 0 },
    });
    const real = provider(t, "primary");
    // The provider answers at once, but recording the answer lags (a loaded gateway): both
    // reports arrive while the attempt is still in flight.
    const laggingRecorder = {
      name: real.name,
      findSent: (sent: Parameters<TwilioSmsProvider["findSent"]>[0]) => real.findSent(sent),
      turn: real.turn.bind(real),
      send: async (message: Parameters<TwilioSmsProvider["send"]>[0]) => {
        const answer = await real.send(message);
        await sleep(500);
        return answer;
      },
    };
    await smsGateway({
      store: t.context.store,
      rules: fixedRules(t.context.rules),
      providers: [laggingRecorder],
      statusCallbackUrl: publicUrl,
      templates: TEMPLATES,
      clock: () => t.context.clockMs,
      newEventId: randomUUID,
      logger: pino({ level: "silent" }),
    }).handle(request);
    const callbacks = t.context.primary.simulator.callbacks;
    for (let waited = 0; callbacks.sent + callbacks.failed < 2 && waited < 5000; waited += 20)
      await sleep(20);
    t.is(callbacks.failed, 0, "no report refused");
    t.is(callbacks.sent, 2);
    t.like((await stream(t, "acc-8b")).at(-1)?.data, { status: "delivered", via: "webhook" });
  } finally {
    close();
  }
});

test("the status poller asks the provider when callbacks are lost, and expires to unknown what never settles", async (t) => {
  Object.assign(t.context.primary.simulator.knobs, {
    sentAfterMs: 10,
    finalAfterMs: 10,
    lostCallbackRate: 1,
    outcomes: { delivered: 1, undelivered: 0, failed: 0 },
  });
  const delivered = await requested(t, "acc-9");
  await gateway(t).handle(delivered);
  t.context.primary.simulator.knobs.sentAfterMs = 3_600_000; // the next message stays queued
  const stuck = await requested(t, "acc-10");
  await gateway(t).handle(stuck);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the first one is delivered at the provider
  t.is(t.context.primary.simulator.callbacks.sent, 0, "no callback reached us");

  const schema = `${t.context.database.schema}_tracking`;
  const poll = async (clockMs: number) => {
    await t.context.database.pool.query(`drop schema if exists "${schema}" cascade`);
    await applyProjection(t.context.database.pool, t.context.store, trackingProjection, schema);
    return pollOnce({
      pool: t.context.database.pool,
      store: t.context.store,
      providers: [provider(t, "primary")],
      notificationsView: `"${schema}".notifications`,
      signal: new AbortController().signal,
      clock: () => clockMs,
      newEventId: randomUUID,
      logger: pino({ level: "silent" }),
    });
  };
  try {
    t.deepEqual(await poll(T0 + 3 * 60_000), { polled: 2, expired: 0 });
    t.like((await stream(t, "acc-9")).at(-1)?.data, { status: "delivered", via: "poll" });
    t.deepEqual(
      (await types(t, "acc-10")).at(-1),
      "SmsSubmitted",
      "queued at the provider: nothing to record",
    );
    // A day and more later the second one is still not settled: unknown.
    t.deepEqual(await poll(T0 + 25 * 3_600_000), { polled: 1, expired: 1 });
    t.is((await stream(t, "acc-10")).at(-1)?.type, "SmsValidityLapsed");
  } finally {
    await t.context.database.pool.query(`drop schema if exists "${schema}" cascade`);
  }
});

/** The inbound-SMS webhook on a port of its own, for the accounts at +447700900123. */
async function inboundWebhook(t: { context: Context }, accountIds: readonly string[]) {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = createSmsWebhooks({
    store: t.context.store,
    providers: [{ name: "primary", authToken: TOKEN }],
    publicBaseUrl: base,
    rules: fixedRules(t.context.rules),
    findAccountsByPhone: (phone) => Promise.resolve(phone === "+447700900123" ? [...accountIds] : []),
    clock: () => t.context.clockMs,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).callback();
  server.on("request", (incoming, outgoing) => void handle(incoming, outgoing));
  const url = `${base}/sms/inbound?provider=primary`;
  return {
    /** A message as the provider posts it, signed with `token`; a fresh MessageSid unless given. */
    inbound: (body: string, options: { token?: string; messageSid?: string } = {}) => {
      const params = {
        From: "+447700900123",
        To: "Tidemark",
        Body: body,
        MessageSid: options.messageSid ?? `SM${randomUUID().replace(/-/g, "")}`,
      };
      return fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": twilioSignature(options.token ?? TOKEN, url, params),
        },
        body: new URLSearchParams(params).toString(),
      });
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function openAt447700900123(
  t: { context: Context },
  accountId: string,
  consents: { service: boolean; marketing: boolean },
) {
  await account(t, accountId, {
    type: "OpenAccount",
    data: {
      accountId,
      customerId: `customer-${accountId}`,
      phone: "+447700900123" as PhoneNumber,
      currency: "GBP",
      timeZone: "Europe/London" as TimeZone,
      consents,
      now: epochMsToInstant(T0 - 60_000),
    },
  });
}

/** The account's consent changes as `class granted source messageId`. */
const consentChanges = async (t: { context: Context }, accountId: string) =>
  (await collect(t.context.store.readStream(`account-${accountId}`)))
    .filter((event) => event.type === "ConsentChanged")
    .map((event) => JSON.stringify(event.data))
    .map((json) => {
      const { messageClass, granted, source, messageId } = JSON.parse(json) as Record<string, unknown>;
      return `${String(messageClass)} ${String(granted)} ${String(source)} ${String(messageId)}`;
    });

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

test("inbound STOP withdraws consent for every class, START gives it back, HELP is answered; unsigned ones are refused", async (t) => {
  await openAt447700900123(t, "acc-11", { service: true, marketing: true });
  const { inbound, close } = await inboundWebhook(t, ["acc-11"]);
  try {
    t.is((await inbound("STOP", { token: "forged" })).status, 403);
    t.deepEqual(await consentChanges(t, "acc-11"), []);
    const stop = await inbound("  stop ", { messageSid: "SM-stop" });
    t.is(stop.status, 200);
    t.is(await stop.text(), EMPTY_TWIML);
    t.deepEqual(await consentChanges(t, "acc-11"), [
      "service false sms-keyword SM-stop",
      "marketing false sms-keyword SM-stop",
    ]);
    await inbound("Hello?");
    t.is((await consentChanges(t, "acc-11")).length, 2, "not a keyword: nothing changes");
    t.regex(await (await inbound("HELP")).text(), /<Message>Tidemark balance alerts\. Reply STOP/);
    await inbound("START", { messageSid: "SM-start" });
    t.deepEqual((await consentChanges(t, "acc-11")).slice(2), [
      "service true sms-keyword SM-start",
      "marketing true sms-keyword SM-start",
    ]);
  } finally {
    close();
  }
});

test("inbound START gives back only what STOP withdrew: an account opened without marketing consent stays without it", async (t) => {
  await openAt447700900123(t, "acc-14", { service: true, marketing: false });
  const { inbound, close } = await inboundWebhook(t, ["acc-14"]);
  try {
    await inbound("STOP", { messageSid: "SM-stop" });
    await inbound("START", { messageSid: "SM-start" });
    t.deepEqual(await consentChanges(t, "acc-14"), [
      "service false sms-keyword SM-stop",
      "service true sms-keyword SM-start",
    ]);
  } finally {
    close();
  }
});

test("each inbound message is handled once: a replayed signed START or STOP changes nothing and is answered as the first", async (t) => {
  await openAt447700900123(t, "acc-15", { service: true, marketing: false });
  const { inbound, close } = await inboundWebhook(t, ["acc-15"]);
  try {
    await inbound("STOP", { messageSid: "SM-stop-1" });
    await inbound("START", { messageSid: "SM-start" });
    const replayedStop = await inbound("STOP", { messageSid: "SM-stop-1" });
    t.is(replayedStop.status, 200);
    t.is(await replayedStop.text(), EMPTY_TWIML);
    await inbound("STOP", { messageSid: "SM-stop-2" });
    // Replayed many times at once: racing appends on one stream, each decided on fresh state.
    const replays = await Promise.all(
      Array.from({ length: 5 }, () => inbound("START", { messageSid: "SM-start" })),
    );
    t.deepEqual(
      replays.map((replay) => replay.status),
      [200, 200, 200, 200, 200],
    );
    t.deepEqual(await consentChanges(t, "acc-15"), [
      "service false sms-keyword SM-stop-1",
      "service true sms-keyword SM-start",
      "service false sms-keyword SM-stop-2",
    ]);
    const received = (await collect(t.context.store.readStream("account-acc-15"))).filter(
      (event) => event.type === "SmsKeywordReceived",
    );
    t.deepEqual(
      received.map((event) => event.data.messageId),
      ["SM-stop-1", "SM-start", "SM-stop-2"],
    );
    const fresh = await Promise.all(
      Array.from({ length: 3 }, () => inbound("START", { messageSid: "SM-start-2" })),
    );
    t.deepEqual(
      fresh.map((answer) => answer.status),
      [200, 200, 200],
    );
    t.deepEqual((await consentChanges(t, "acc-15")).slice(3), ["service true sms-keyword SM-start-2"]);
  } finally {
    close();
  }
});

test("a replayed inbound message reaches only the accounts it reached the first time: one opened on the number since keeps its consent", async (t) => {
  await openAt447700900123(t, "acc-16", { service: true, marketing: false });
  const holders = ["acc-16"];
  const { inbound, close } = await inboundWebhook(t, holders);
  try {
    await inbound("STOP", { messageSid: "SM-stop" });
    await openAt447700900123(t, "acc-17", { service: true, marketing: true });
    holders.push("acc-17");
    const replay = await inbound("STOP", { messageSid: "SM-stop" });
    t.is(replay.status, 200);
    t.is(await replay.text(), EMPTY_TWIML);
    t.deepEqual(await consentChanges(t, "acc-16"), ["service false sms-keyword SM-stop"]);
    t.deepEqual(
      await consentChanges(t, "acc-17"),
      [],
      "the replay does not reach an account it never reached",
    );
    await inbound("STOP", { messageSid: "SM-stop-2" });
    t.deepEqual(await consentChanges(t, "acc-17"), [
      "service false sms-keyword SM-stop-2",
      "marketing false sms-keyword SM-stop-2",
    ]);
  } finally {
    close();
  }
});

test("frequency cap: a second episode of the same rule within its cooldown is suppressed, not sent", async (t) => {
  const first = await requested(t, "acc-12");
  await gateway(t).handle(first);
  // The balance recovers (the rule re-arms) and drops again: a second episode, an hour later.
  await balance(t, "acc-12", "200.00", T0 - 10_000);
  await balance(t, "acc-12", "60.00", T0 - 5_000);
  const qualified = (await collect(t.context.store.readStream("account-acc-12"))).filter(
    (event) => event.type === "AccountQualified" && event.data.ruleId === "low-balance",
  );
  t.is(qualified.length, 2);
  await qualificationPolicy({
    store: t.context.store,
    rules: fixedRules(t.context.rules),
    templates: await loadTemplates(),
    clock: () => T0 - 4_000,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).handle(qualified[1] as RecordedEvent);
  const secondStream = notificationStreamId(ruleNotificationId("acc-12", "low-balance", 2));
  const [second] = await collect(t.context.store.readStream(secondStream));
  if (second === undefined) return t.fail("no second request");
  const schema = `${t.context.database.schema}_tracking_cap`;
  try {
    await applyProjection(t.context.database.pool, t.context.store, trackingProjection, schema);
    const db = new Kysely<TrackingTables>({
      dialect: new PostgresDialect({ pool: t.context.database.pool }),
    });
    t.context.clockMs = T0 + 3_600_000;
    await smsGateway({
      store: t.context.store,
      rules: fixedRules(t.context.rules),
      providers: [provider(t, "primary")],
      statusCallbackUrl: "http://127.0.0.1:1/sms/status",
      templates: TEMPLATES,
      sentSince: batchedCountSentSince(db, schema), // as the notification role wires it
      clock: () => t.context.clockMs,
      newEventId: randomUUID,
      logger: pino({ level: "silent" }),
    }).handle(second);
    const events = await collect(t.context.store.readStream(secondStream));
    t.deepEqual(
      events.map((event) => event.type),
      ["NotificationRequested", "NotificationSuppressed"],
    );
    t.like(events[1]?.data, { reason: "frequency-cap" });
    t.is(t.context.primary.simulator.messages.length, 1, "only the first episode's SMS");
  } finally {
    await t.context.database.pool.query(`drop schema if exists "${schema}" cascade`);
  }
});

test("a deferred notification is woken when its quiet hours end, checked again and sent; the timer lives in PostgreSQL", async (t) => {
  const wakeups = new DeferredWakeups(t.context.database.pool, `${t.context.database.schema}_sms`);
  await wakeups.migrate();
  try {
    const request = await requested(t, "acc-13");
    t.context.clockMs = Date.UTC(2026, 0, 15, 23, 0, 0); // 23:00 in London: quiet
    const handler = smsGateway({
      store: t.context.store,
      rules: fixedRules(t.context.rules),
      providers: [provider(t, "primary")],
      statusCallbackUrl: "http://127.0.0.1:1/sms/status",
      templates: TEMPLATES,
      wakeups,
      clock: () => t.context.clockMs,
      newEventId: randomUUID,
      logger: pino({ level: "silent" }),
    });
    await handler.handle(request);
    t.deepEqual(await types(t, "acc-13"), ["NotificationRequested", "NotificationDeferred"]);
    const options = {
      store: t.context.store,
      wakeups,
      gateway: handler,
      signal: new AbortController().signal,
      clock: () => t.context.clockMs,
      logger: pino({ level: "silent" }),
    };
    t.context.clockMs = Date.UTC(2026, 0, 16, 7, 59, 0);
    t.is(await wakeDue(options), 0, "not due before 08:00");
    // A fresh gateway process (the timer was in the table, not in memory), at 08:01.
    t.context.clockMs = Date.UTC(2026, 0, 16, 8, 1, 0);
    t.is(await wakeDue(options), 1);
    t.deepEqual(await types(t, "acc-13"), [
      "NotificationRequested",
      "NotificationDeferred",
      "SmsSubmissionStarted",
      "SmsSubmitted",
    ]);
    t.is(await wakeDue(options), 0, "woken once");
    t.is(t.context.primary.simulator.messages.length, 1);
  } finally {
    await t.context.database.pool.query(`drop schema if exists "${t.context.database.schema}_sms" cascade`);
  }
});
