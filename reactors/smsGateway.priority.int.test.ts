import { randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import anyTest, { type TestFn } from "ava";
import { keepTheBrokerUpDuring } from "../test/brokerRestarts.ts";
import amqp from "amqplib";
import pino from "pino";
import { handleCommand } from "../commands/handleCommand.ts";
import { loadRules } from "../commands/rules/loadRules.ts";
import { accountDecider } from "../domain/account/accountDecider.ts";
import { notificationDecider, notificationStreamId } from "../domain/notification/notificationDecider.ts";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import type { Rule } from "../domain/rules/Rule.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { MessageClass } from "../domain/values/MessageClass.ts";
import type { PhoneNumber } from "../domain/values/PhoneNumber.ts";
import {
  closeConnection,
  CONNECT_OPTIONS,
  declareConsumerQueues,
  DEFAULT_RETRY_DELAYS_MS,
} from "../gateways/fanout/amqpTopology.ts";
import { FanoutCheckpoints } from "../gateways/fanout/FanoutCheckpoints.ts";
import { runAmqpConsumer } from "../gateways/fanout/runAmqpConsumer.ts";
import { runAmqpRelay } from "../gateways/fanout/runAmqpRelay.ts";
import { createSmsProviderSimulator } from "../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { TwilioSmsProvider } from "../gateways/sms/TwilioSmsProvider.ts";
import { openAccountCommand } from "../test/accountCommands.ts";
import { createIsolatedVirtualHost } from "../test/isolatedServices.ts";
import { openTestEventStore, type TestEventStore } from "../test/postgresTestDatabase.ts";
import { smsGateway } from "./smsGateway.ts";

import { loadTemplates } from "../commands/templates/loadTemplates.ts";

/** The SMS templates, as the gateway renders a message again with them. */
const TEMPLATES = await loadTemplates();
const ACCOUNT_SID = "AC00000000000000000000000000000010";
const TOKEN = "token";
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
const ACCOUNT = "acc-priority";

type Context = TestEventStore & {
  rules: Rule[];
  /** A RabbitMQ virtual host of this test's own: the gateway's real queue names, no one else's. */
  amqpUrl: string;
  dropVirtualHost: (log: (message: string) => void) => Promise<void>;
  stops: (() => Promise<void>)[];
};
const test = anyTest as TestFn<Context>;
keepTheBrokerUpDuring(test);

test.beforeEach(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.rules = await loadRules();
  const vhost = await createIsolatedVirtualHost(`tidemark_sms_priority_${randomBytes(4).toString("hex")}`);
  t.context.amqpUrl = vhost.amqpUrl;
  t.context.dropVirtualHost = (log) => vhost.drop(log);
  t.context.stops = [];
});

test.afterEach.always(async (t) => {
  for (const stop of t.context.stops.reverse()) await stop();
  await t.context.dropVirtualHost((message) => t.log(message));
  await t.context.dispose([`${t.context.database.schema}_fanout`]);
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** An account consenting to both classes, and a request of each class in `classes`, in order. */
async function requestInOrder(t: { context: Context }, classes: readonly MessageClass[]): Promise<void> {
  const open = openAccountCommand(ACCOUNT, T0 - 60_000);
  if (open.type !== "OpenAccount") throw new Error("not an opening");
  const opened = await handleCommand(
    t.context.store,
    accountDecider(t.context.rules),
    `account-${ACCOUNT}`,
    { ...open, data: { ...open.data, consents: { service: true, marketing: true } } },
    { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } },
  );
  if (opened.outcome !== "accepted") throw new Error("account not opened");
  for (const [index, messageClass] of classes.entries()) {
    const notificationId = `${messageClass}-${index}`;
    const outcome = await handleCommand(
      t.context.store,
      notificationDecider,
      notificationStreamId(notificationId),
      {
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
      },
      { newEventId: randomUUID, metadata: { correlationId: "c", actor: "test" } },
    );
    if (outcome.outcome !== "accepted") throw new Error(`request ${notificationId}: ${outcome.outcome}`);
  }
}

test("service alerts requested after a queued burst of marketing offers reach the provider first", async (t) => {
  const offers = 300;
  const alerts = 3;
  const accepted: string[] = [];
  const simulator = createSmsProviderSimulator({
    accountSid: ACCOUNT_SID,
    authToken: TOKEN,
    knobs: { sentAfterMs: 60_000, finalAfterMs: 60_000 }, // no callbacks during the test
    onAccepted: (message) => accepted.push(message.reference ?? ""),
  });
  const server = simulator.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  t.teardown(() => {
    simulator.close();
    server.closeAllConnections();
    server.close();
  });
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
      }),
    ],
    statusCallbackUrl: "http://127.0.0.1:1/sms/status",
    templates: TEMPLATES,
    clock: () => T0,
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  });

  // The gateway's queues exist, and nobody consumes them while the relay publishes the burst.
  const connection = await amqp.connect(t.context.amqpUrl, CONNECT_OPTIONS);
  t.context.stops.push(() => closeConnection(connection));
  const channel = await connection.createChannel();
  const { main } = await declareConsumerQueues(channel, gateway, DEFAULT_RETRY_DELAYS_MS);
  const checkpoints = new FanoutCheckpoints(t.context.database.pool, `${t.context.database.schema}_fanout`);
  await checkpoints.migrate();
  const relay = new AbortController();
  const relaying = runAmqpRelay({
    pool: t.context.database.pool,
    store: t.context.store,
    checkpoints,
    amqpUrl: t.context.amqpUrl,
    signal: relay.signal,
    logger: pino({ level: "silent" }),
  });
  t.context.stops.push(async () => {
    relay.abort();
    await relaying;
  });
  await requestInOrder(t, [
    ...Array<MessageClass>(offers).fill("marketing"),
    ...Array<MessageClass>(alerts).fill("service"),
  ]);
  await until(
    async () => (await channel.checkQueue(main)).messageCount === offers + alerts,
    30_000,
    "the burst queued",
  );

  // One message at a time: the order the provider sees is the order the queue hands them over.
  const consumer = new AbortController();
  const consuming = runAmqpConsumer({
    amqpUrl: t.context.amqpUrl,
    consumer: gateway,
    signal: consumer.signal,
    prefetch: 1,
    logger: pino({ level: "silent" }),
  });
  t.context.stops.push(async () => {
    consumer.abort();
    await consuming;
  });
  await until(() => accepted.length >= alerts + 10, 30_000, "the first messages sent");
  t.deepEqual(
    accepted.slice(0, alerts).map((reference) => reference.split("-")[0]),
    Array<string>(alerts).fill("service"),
    `sent first: ${accepted.slice(0, alerts + 10).join(", ")}`,
  );
});
