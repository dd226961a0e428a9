import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { bodyParser } from "@koa/bodyparser";
import anyTest, { type TestFn } from "ava";
import Koa from "koa";
import twilio from "twilio";
import {
  createSmsProviderSimulator,
  type SmsProviderSimulator,
  type SmsSimulatorKnobs,
} from "./createSmsProviderSimulator.ts";

const ACCOUNT = "AC00000000000000000000000000000001";
const TOKEN = "simulated-auth-token";

interface Callback {
  readonly url: string;
  readonly params: Record<string, string>;
  readonly signature: string;
}

type Context = {
  simulator: SmsProviderSimulator;
  providerUrl: string;
  callbackUrl: string;
  callbacks: Callback[];
  servers: Server[];
};
const test = anyTest as TestFn<Context>;

async function listen(app: Koa, servers: Server[]): Promise<string> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function start(t: { context: Context }, knobs: Partial<SmsSimulatorKnobs> = {}): Promise<void> {
  t.context.servers = [];
  t.context.callbacks = [];
  t.context.simulator = createSmsProviderSimulator({
    accountSid: ACCOUNT,
    authToken: TOKEN,
    knobs: { sentAfterMs: 10, finalAfterMs: 20, ...knobs },
  });
  t.context.providerUrl = await listen(t.context.simulator.app, t.context.servers);
  const receiver = new Koa();
  receiver.use(bodyParser({ enableTypes: ["form"] }));
  receiver.use((ctx) => {
    const base = t.context.callbackUrl;
    t.context.callbacks.push({
      url: `${base}${ctx.url}`,
      params: ctx.request.body as Record<string, string>,
      signature: ctx.get("x-twilio-signature"),
    });
    ctx.status = 204;
  });
  t.context.callbackUrl = await listen(receiver, t.context.servers);
}

test.afterEach.always((t) => {
  t.context.simulator.close();
  for (const server of t.context.servers) {
    server.closeAllConnections();
    server.close();
  }
});

function send(
  t: { context: Context },
  form: Record<string, string>,
  auth = `${ACCOUNT}:${TOKEN}`,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${t.context.providerUrl}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(auth).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(form).toString(),
    ...(signal === undefined ? {} : { signal }),
  });
}

function get(t: { context: Context }, path: string): Promise<Response> {
  return fetch(`${t.context.providerUrl}/2010-04-01/Accounts/${ACCOUNT}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString("base64")}` },
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5000) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const message = (t: { context: Context }, reference: string) => ({
  To: "+447911123456",
  From: "Tidemark",
  Body: "Your balance is £42.00, below £100.00. Reply STOP to opt out.",
  StatusCallback: `${t.context.callbackUrl}/sms/status?reference=${reference}`,
});

test("a message is accepted, then reported sent and delivered through callbacks signed as Twilio signs them", async (t) => {
  await start(t, { outcomes: { delivered: 1, undelivered: 0, failed: 0 } });
  const created = await send(t, message(t, "n-1"));
  t.is(created.status, 201);
  const body = (await created.json()) as { sid: string; status: string; reference: string };
  t.regex(body.sid, /^SM[0-9a-f]{32}$/);
  t.is(body.status, "queued");
  await until(() => t.context.callbacks.length === 2, "two callbacks");
  t.deepEqual(
    t.context.callbacks.map((callback) => callback.params.MessageStatus),
    ["sent", "delivered"],
  );
  for (const callback of t.context.callbacks) {
    t.is(callback.params.MessageSid, body.sid);
    t.true(
      twilio.validateRequest(TOKEN, callback.signature, callback.url, callback.params),
      "Twilio's check passes",
    );
  }
  const fetched = (await (await get(t, `/Messages/${body.sid}.json`)).json()) as { status: string };
  t.is(fetched.status, "delivered");
  const listed = (await (await get(t, "/Messages.json?To=%2B447911123456")).json()) as {
    messages: { sid: string }[];
  };
  t.deepEqual(
    listed.messages.map((entry) => entry.sid),
    [body.sid],
  );
  t.is(t.context.simulator.messages.length, 1);
});

test("wrong credentials are refused with 401; a bad number, no body or no sender with 400 and Twilio's codes", async (t) => {
  await start(t);
  const unauthorised = await send(t, message(t, "n-2"), `${ACCOUNT}:wrong`);
  t.is(unauthorised.status, 401);
  t.like(await unauthorised.json(), { code: 20003 });
  t.like(await (await send(t, { ...message(t, "n-2"), To: "07911" })).json(), { code: 21211, status: 400 });
  t.like(await (await send(t, { ...message(t, "n-2"), Body: "" })).json(), { code: 21602 });
  t.like(await (await send(t, { To: "+447911123456", Body: "x" })).json(), { code: 21603 });
  t.is(t.context.simulator.messages.length, 0);
});

test("knobs: a 5xx creates nothing; an answer that never comes still created the message; lost callbacks leave the status to fetch", async (t) => {
  await start(t, { serverErrorRate: 1 });
  const failed = await send(t, message(t, "n-3"));
  t.is(failed.status, 500);
  t.is(t.context.simulator.messages.length, 0);

  t.context.simulator.knobs.serverErrorRate = 0;
  t.context.simulator.knobs.timeoutRate = 1;
  t.context.simulator.knobs.lostCallbackRate = 1;
  const timedOut = await send(t, message(t, "n-4"), undefined, AbortSignal.timeout(300)).then(
    () => false,
    (error: unknown) => (error as { name?: string }).name === "TimeoutError",
  );
  t.true(timedOut, "the caller gave up waiting");
  t.is(t.context.simulator.messages.length, 1, "created although never answered");
  const listed = (await (await get(t, "/Messages.json?To=%2B447911123456&Reference=ignored")).json()) as {
    messages: { sid: string; status: string }[];
  };
  t.is(listed.messages.length, 1);
  await sleep(100);
  const sid = listed.messages[0]?.sid ?? "";
  const fetched = (await (await get(t, `/Messages/${sid}.json`)).json()) as { status: string };
  t.not(fetched.status, "queued", "it moved on");
  t.deepEqual(t.context.callbacks, [], "no callback was sent");
});

test("the outcome mix decides final statuses, with Twilio's error codes for the failures", async (t) => {
  await start(t, { outcomes: { delivered: 1, undelivered: 1, failed: 1 } });
  for (let index = 0; index < 60; index += 1) t.is((await send(t, message(t, `n-${index}`))).status, 201);
  await until(
    () => t.context.simulator.messages.every((entry) => entry.status !== "queued" && entry.status !== "sent"),
    "final statuses",
  );
  const statuses = new Set(t.context.simulator.messages.map((entry) => entry.status));
  t.deepEqual([...statuses].sort(), ["delivered", "failed", "undelivered"]);
  for (const entry of t.context.simulator.messages) {
    t.is(
      entry.error_code,
      entry.status === "delivered" ? null : entry.status === "undelivered" ? 30003 : 30008,
    );
  }
});

test("the admin route pins one number's final status over the outcome mix, with the account's credentials", async (t) => {
  await start(t, { outcomes: { delivered: 1, undelivered: 0, failed: 0 } });
  const pin = (to: string, form: Record<string, string>, method = "PUT", auth = `${ACCOUNT}:${TOKEN}`) =>
    fetch(`${t.context.providerUrl}/__admin/numbers/${encodeURIComponent(to)}/outcome`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(auth).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(form).toString(),
    });
  t.is((await pin("+447911000001", { Outcome: "failed" }, "PUT", `${ACCOUNT}:wrong`)).status, 401);
  t.is((await pin("+447911000001", { Outcome: "lost" })).status, 400);
  t.is((await pin("07911", { Outcome: "failed" })).status, 400);
  t.is((await pin("+447911000001", { Outcome: "undelivered" })).status, 204);
  t.is((await pin("+447911000002", { Outcome: "failed" })).status, 204);
  t.is((await pin("+447911000002", {}, "DELETE")).status, 204);
  for (const to of ["+447911000001", "+447911000002", "+447911000003"]) {
    t.is((await send(t, { ...message(t, `n-${to}`), To: to })).status, 201);
  }
  await until(
    () =>
      t.context.simulator.messages.every((entry) =>
        ["delivered", "undelivered", "failed"].includes(entry.status),
      ),
    "final statuses",
  );
  t.deepEqual(
    t.context.simulator.messages.map((entry) => [entry.to, entry.status, entry.error_code]),
    [
      ["+447911000001", "undelivered", 30003],
      ["+447911000002", "delivered", null],
      ["+447911000003", "delivered", null],
    ],
  );
});
