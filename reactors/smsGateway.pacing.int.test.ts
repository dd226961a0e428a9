import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import anyTest, { type TestFn } from "ava";
import pino from "pino";
import { handleCommand } from "../commands/handleCommand.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import type { NotificationCommand } from "../domain/notification/NotificationCommand.ts";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import type { MessageClass } from "../domain/values/MessageClass.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import type { RecordedEvent } from "../gateways/eventStore/EventStore.ts";
import { createSmsProviderSimulator } from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { ProviderUnavailableError, TwilioSmsProvider } from "../gateways/sms/TwilioSmsProvider.ts";
import { openAccountCommand } from "../test/accountCommands.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { smsGateway } from "./smsGateway.ts";

import { loadTemplates } from "../commands/templates/loadTemplates.ts";

/** The SMS templates, as the gateway renders a message again with them. */
const TEMPLATES = await loadTemplates();
const ACCOUNT_SID = "AC00000000000000000000000000000009";
const TOKEN = "token";
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
const ACCOUNT = "acc-burst";

type Context = TestEventStore & { rules: Rule[] };
const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.rules = await loadRules();
});

test.afterEach.always(async (t) => {
  await t.context.dispose();
});

async function decide(t: { context: Context }, streamId: string, command: NotificationCommand) {
  const outcome = await handleCommand(t.context.store, notificationDecider, streamId, command, {
    newEventId: randomUUID,
    metadata: { correlationId: "c", actor: "test" },
  });
  if (outcome.outcome !== "accepted") throw new Error(`${command.type}: ${outcome.outcome}`);
}

/** A notification of `messageClass` requested (no rule: nothing but consent is checked before sending). */
async function requested(
  t: { context: Context },
  notificationId: string,
  messageClass: MessageClass,
): Promise<RecordedEvent> {
  const streamId = notificationStreamId(notificationId);
  await decide(t, streamId, {
    type: "RequestNotification",
    data: {
      notificationId,
      accountId: ACCOUNT,
      messageClass,
      templateId: `${messageClass}-v1`,
      template: `A ${messageClass} message.`,
      variables: {},
      recipient: "+447911123456" as PhoneNumber,
      validUntil: epochMsToInstant(T0 + 3_600_000),
      now: epochMsToInstant(T0),
    },
  });
  const [request] = await collect(t.context.store.readStream(streamId));
  if (request === undefined) throw new Error("no request");
  return request;
}

/** An account consenting to both classes, and the requests: `marketing` of them first, then `service`. */
async function burst(t: { context: Context }, counts: { marketing: number; service: number }) {
  const open = openAccountCommand(ACCOUNT, T0 - 60_000);
  if (open.type !== "OpenAccount") throw new Error("not an opening");
  const outcome = await handleCommand(
    t.context.store,
    accountDecider(t.context.rules),
    `account-${ACCOUNT}`,
    { ...open, data: { ...open.data, consents: { service: true, marketing: true } } },
    { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } },
  );
  if (outcome.outcome !== "accepted") throw new Error("account not opened");
  const ids = [
    ...Array.from({ length: counts.marketing }, (_, index) => `marketing-${index}`),
    ...Array.from({ length: counts.service }, (_, index) => `service-${index}`),
  ];
  const requests: RecordedEvent[] = [];
  for (let index = 0; index < ids.length; index += 25) {
    const chunk = ids.slice(index, index + 25);
    requests.push(
      ...(await Promise.all(
        chunk.map((id) => requested(t, id, id.startsWith("service") ? "service" : "marketing")),
      )),
    );
  }
  return requests;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

test("a burst of 200 marketing then 50 service requests at 50 a second: each sent once, spread, service first", async (t) => {
  const perSecond = 50;
  const accepted: { reference: string; atMs: number }[] = [];
  const simulator = createSmsProviderSimulator({
    accountSid: ACCOUNT_SID,
    authToken: TOKEN,
    knobs: { sentAfterMs: 60_000, finalAfterMs: 60_000 }, // no callbacks during the test
    onAccepted: (message) => accepted.push({ reference: message.reference ?? "", atMs: performance.now() }),
  });
  const server = simulator.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  t.teardown(() => {
    simulator.close();
    server.closeAllConnections();
    server.close();
  });
  const requests = await burst(t, { marketing: 200, service: 50 });
  const gateway = smsGateway({
    store: t.context.store,
    rules: fixedRules(t.context.rules),
    providers: [
      new TwilioSmsProvider({
        name: "primary",
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        accountSid: ACCOUNT_SID,
        authToken: TOKEN,
        from: "Tidemark",
        messagesPerSecond: perSecond,
      }),
    ],
    statusCallbackUrl: "http://127.0.0.1:1/sms/status",
    templates: TEMPLATES,
    clock: () => T0,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  });

  // Every request in flight at once, marketing first: as many as a consumer may hold.
  await Promise.all(requests.map((request) => gateway.handle(request)));

  // Each accepted exactly once, and recorded as submitted.
  t.is(accepted.length, 250);
  t.is(new Set(accepted.map((message) => message.reference)).size, 250);
  for (const request of requests) {
    const events = await collect(t.context.store.readStream(request.streamId));
    t.is(events.at(-1)?.type, "SmsSubmitted", request.streamId);
  }
  // Spread: no more than 50 requests in any second leave the gateway; at the simulator each one's
  // own few milliseconds on the wire may differ, so allow for one more.
  const slack = 1;
  for (let index = perSecond + slack; index < accepted.length; index += 1) {
    const windowMs = (accepted[index]?.atMs ?? 0) - (accepted[index - perSecond - slack]?.atMs ?? 0);
    t.true(windowMs >= 1000, `${perSecond + slack + 1} accepted within ${windowMs.toFixed(1)} ms`);
  }
  const spanMs = (accepted.at(-1)?.atMs ?? 0) - (accepted[0]?.atMs ?? 0);
  t.true(spanMs >= ((250 - 1) * 1000) / perSecond - 100, `250 accepted over ${spanMs.toFixed(0)} ms`);
  // Service first: once waiting, they went before the marketing messages that waited with them.
  const lastService = accepted.findLastIndex((message) => message.reference.startsWith("service"));
  const marketingAfter = accepted.length - 1 - lastService;
  t.log(`last service message accepted ${lastService + 1}th of 250, over ${spanMs.toFixed(0)} ms`);
  t.true(marketingAfter >= 100, `only ${marketingAfter} marketing messages after the last service one`);
});

test("a provider answering 429: not processed, so retryable with nothing to look up; the pace holds for its Retry-After", async (t) => {
  let calls = 0;
  const server = createServer((request, response) => {
    calls += 1;
    request.resume();
    response.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
    response.end(JSON.stringify({ code: 20429, message: "Too Many Requests", status: 429 }));
  });
  const baseUrl = await listen(server);
  t.teardown(() => server.close());
  const provider = new TwilioSmsProvider({
    name: "busy",
    baseUrl,
    accountSid: ACCOUNT_SID,
    authToken: TOKEN,
    from: "Tidemark",
    messagesPerSecond: 100,
  });
  await provider.turn("service");
  const error = await t.throwsAsync(
    provider.send({ to: "+447911123456", body: "hello", statusCallback: "http://127.0.0.1:1/" }),
    { instanceOf: ProviderUnavailableError },
  );
  t.like(error, { errorCode: "20429", mayHaveSent: false });
  const before = performance.now();
  await provider.turn("service");
  t.true(performance.now() - before >= 900, "the next turn waited for the Retry-After");
  t.is(calls, 1);
});
