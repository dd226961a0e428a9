import pino from "pino";
import { fixedRules } from "../domain/ruleset/RuleBook.ts";
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import anyTest, { type TestFn } from "ava";
import { createSmsWebhooks } from "../reactors/webhooks/createSmsWebhooks.ts";
import { twilioSignature } from "../gateways/sms/twilioSignature.ts";
import { collect } from "../gateways/eventStore/eventStoreContract.ts";
import { startTestCommandApi, type TestCommandApi } from "../test/startTestCommandApi.ts";

type Context = TestCommandApi & { webhooks: Server; webhooksUrl: string };
const test = anyTest as TestFn<Context>;

const KEY = "admin-key-0123456789abcdef";
const TOKEN = "webhook-token";

test.before(async (t) => {
  Object.assign(t.context, await startTestCommandApi([{ name: "ops", key: KEY, scopes: ["admin"] }]));
  const { store, database } = t.context;
  const webhooks = createServer();
  webhooks.listen(0, "127.0.0.1");
  await new Promise((resolve) => webhooks.once("listening", resolve));
  const webhooksUrl = `http://127.0.0.1:${(webhooks.address() as AddressInfo).port}`;
  const handle = createSmsWebhooks({
    store,
    providers: [{ name: "primary", authToken: TOKEN }],
    publicBaseUrl: webhooksUrl,
    rules: fixedRules([]),
    // As the system looks a sender up: a query on PostgreSQL.
    findAccountsByPhone: async (phone) =>
      (
        await database.pool.query<{ id: string }>("select 'nobody' as id where $1::text = ''", [phone])
      ).rows.map((row) => row.id),
    clock: () => Date.UTC(2026, 10, 24, 9),
    newEventId: randomUUID,
    logger: pino({ level: "silent" }),
  }).callback();
  webhooks.on("request", (incoming, outgoing) => void handle(incoming, outgoing));
  Object.assign(t.context, { webhooks, webhooksUrl });
});

test.after.always(async (t) => {
  t.context.webhooks.closeAllConnections();
  t.context.webhooks.close();
  await t.context.close();
});

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly text: string;
  readonly json: Record<string, unknown>;
  readonly headers: Headers;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // plain text or TwiML
  }
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text,
    json,
    headers: response.headers,
  };
}

function command(
  t: { context: Context },
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return send(`${t.context.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body }),
  });
}

const account = (accountId: string, customerId = "cust-1") => ({
  accountId,
  customerId,
  phone: "+447911123456",
  currency: "GBP",
  timeZone: "Europe/London",
  consents: { service: true, marketing: false },
});

const fieldsOf = (answer: Answer) =>
  (answer.json.errors as { field: string }[] | undefined)?.map((error) => error.field);

test("a control character in a command's path, body value or body key is a 400 naming the field, and nothing is appended", async (t) => {
  const opened = await command(t, "POST", "/accounts", JSON.stringify(account("edge-1")));
  t.is(opened.status, 201);
  const cases: [string, Promise<Answer>, string][] = [
    [
      "NUL in an id",
      command(t, "POST", "/accounts", JSON.stringify(account("edge-2", "cust\u0000"))),
      "body.customerId",
    ],
    [
      "tab in an id",
      command(t, "POST", "/accounts", JSON.stringify(account("edge-2", "cust\t2"))),
      "body.customerId",
    ],
    [
      "DEL in an id",
      command(t, "POST", "/accounts", JSON.stringify(account("edge-2", "cust\u007f"))),
      "body.customerId",
    ],
    [
      "NUL in a key",
      command(t, "POST", "/accounts", JSON.stringify({ ...account("edge-2"), "x\u0000": 1 })),
      "body.x\\u0000",
    ],
    [
      "line feed in a note",
      command(t, "POST", "/accounts/edge-1/close", JSON.stringify({ reason: "moved\nabroad" })),
      "body.reason",
    ],
    [
      "NUL in a template variable",
      command(
        t,
        "POST",
        "/notifications",
        JSON.stringify({
          accountId: "edge-1",
          messageClass: "service",
          templateId: "overdrawn",
          variables: { balance: "£1\u0000" },
        }),
      ),
      "body.variables.balance",
    ],
    [
      "NUL in a path segment",
      command(t, "PUT", "/accounts/%00/contact", JSON.stringify({ phone: "+447911123457" })),
      "path",
    ],
    ["NUL in a query parameter", command(t, "POST", "/accounts/edge-1/close?x=%00", "{}"), "query.x"],
  ];
  for (const [name, pending, field] of cases) {
    const answer = await pending;
    t.is(answer.status, 400, name);
    t.is(answer.type, "application/problem+json", name);
    t.is(answer.json.code, "invalid_request", name);
    t.deepEqual(fieldsOf(answer), [field], name);
  }
  t.deepEqual(
    (await collect(t.context.store.readStream("account-edge-1"))).map((event) => event.type),
    ["AccountOpened"],
  );
  t.is((await collect(t.context.store.readStream("account-edge-2"))).length, 0);
});

test("the SMS webhooks: a control character in a signed request is a 400 naming the field, not a 500; line breaks in a message are taken", async (t) => {
  const post = (path: string, params: Record<string, string>) => {
    const url = `${t.context.webhooksUrl}${path}`;
    return send(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilioSignature(TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  };
  const report = await post("/sms/status?provider=primary&reference=x%00", {
    MessageSid: "SM1",
    MessageStatus: "delivered",
  });
  t.is(report.status, 400);
  t.is(report.json.code, "invalid_request");
  t.true(report.type.startsWith("application/problem+json"));
  t.deepEqual(fieldsOf(report), ["query.reference"]);
  const inbound = { To: "Tidemark", Body: "STOP", MessageSid: "SM2" };
  const fromNul = await post("/sms/inbound?provider=primary", { ...inbound, From: "+44\u00007911123456" });
  t.is(fromNul.status, 400);
  t.deepEqual(fieldsOf(fromNul), ["body.From"]);
  const lineBreaks = await post("/sms/inbound?provider=primary", {
    ...inbound,
    Body: "Stop\r\n\tplease",
    From: "+447911123456",
  });
  t.is(lineBreaks.status, 200);
});

test("the SMS webhooks answer every error as problem+json: a forged signature, a missing field, no such route", async (t) => {
  const { webhooksUrl } = t.context;
  const post = (path: string, params: Record<string, string>, signature: string) =>
    send(`${webhooksUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
      body: new URLSearchParams(params).toString(),
    });
  const report = { MessageSid: "SM1", MessageStatus: "delivered" };
  const forged = await post("/sms/status?provider=primary&reference=n-1", report, "forged");
  t.is(forged.status, 403);
  t.true(forged.type.startsWith("application/problem+json"));
  t.like(forged.json, { status: 403, code: "invalid_signature" });
  const unsignedUrl = `${webhooksUrl}/sms/status?provider=primary`;
  const missing = await post(
    "/sms/status?provider=primary",
    report,
    twilioSignature(TOKEN, unsignedUrl, report),
  );
  t.is(missing.status, 400);
  t.like(missing.json, {
    code: "invalid_request",
    detail: "reference, MessageSid and MessageStatus are required",
  });
  const nowhere = await send(`${webhooksUrl}/sms/elsewhere`, { method: "POST" });
  t.is(nowhere.status, 404);
  t.like(nowhere.json, { code: "not_found" });
  const wrongMethod = await send(`${webhooksUrl}/sms/status`);
  t.is(wrongMethod.status, 405);
  t.like(wrongMethod.json, { code: "method_not_allowed" });
  t.is(wrongMethod.headers.get("allow"), "POST");
});

test("a JSON body declared in a charset other than UTF-8 is a 415; UTF-8 in any spelling is taken", async (t) => {
  for (const charset of ["utf-16", "UTF-16LE", '"iso-8859-1"']) {
    const answer = await command(t, "POST", "/accounts", JSON.stringify(account("edge-3")), {
      "content-type": `application/json; charset=${charset}`,
    });
    t.is(answer.status, 415, charset);
    t.is(answer.json.code, "unsupported_media_type", charset);
    t.true(answer.type.startsWith("application/problem+json"), charset);
  }
  const utf8 = await command(t, "POST", "/accounts", JSON.stringify(account("edge-3")), {
    "content-type": "application/json; charset=UTF-8",
  });
  t.is(utf8.status, 201);
  for (const contentType of ["application/json; charset=utf-16", "text/plain"]) {
    const chunked = await sendChunked(
      `${t.context.url}/accounts`,
      contentType,
      JSON.stringify(account("edge-7")),
    );
    t.is(chunked.status, 415, `${contentType}, chunked`);
    t.is(chunked.json.code, "unsupported_media_type", `${contentType}, chunked`);
  }
});

/** A POST whose body has no Content-Length: sent in chunks. */
async function sendChunked(url: string, contentType: string, body: string): Promise<Answer> {
  const outgoing = request(url, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": contentType },
  });
  outgoing.write(body); // written before end(): Node sends it chunked, without a Content-Length
  outgoing.end();
  const [incoming] = (await once(outgoing, "response")) as [IncomingMessage];
  let text = "";
  for await (const chunk of incoming) text += String(chunk);
  return {
    status: incoming.statusCode ?? 0,
    type: incoming.headers["content-type"] ?? "",
    text,
    json: JSON.parse(text) as Record<string, unknown>,
    headers: new Headers(),
  };
}

test("an Idempotency-Key retry with the same JSON in another key order and spacing gets the first answer", async (t) => {
  await command(t, "POST", "/accounts", JSON.stringify(account("edge-4")));
  const key = { "idempotency-key": "order-0123456789" };
  const first = await command(t, "POST", "/accounts/edge-4/balance-refreshes", '{"reason":"manual"}', key);
  const reordered = await command(
    t,
    "POST",
    "/accounts/edge-4/close",
    '{"reason":"gone","x":{"b":1,"a":[2,{"d":3,"c":4}]}}',
    {
      "idempotency-key": "nested-0123456789",
    },
  );
  t.is(first.status, 202);
  const again = await command(
    t,
    "POST",
    "/accounts/edge-4/balance-refreshes",
    '{ "reason" : "manual" }',
    key,
  );
  t.is(again.status, 202);
  t.is(again.text, first.text);
  t.is(again.headers.get("idempotent-replayed"), "true");
  // A refusal (400: unknown field x) is stored too; the same object in another key order is the same request.
  t.is(reordered.status, 400);
  const reorderedAgain = await command(
    t,
    "POST",
    "/accounts/edge-4/close",
    '{"x":{"a":[2,{"c":4,"d":3}],"b":1},"reason":"gone"}',
    {
      "idempotency-key": "nested-0123456789",
    },
  );
  t.is(reorderedAgain.text, reordered.text);
  t.is(reorderedAgain.headers.get("idempotent-replayed"), "true");
  const otherArrayOrder = await command(
    t,
    "POST",
    "/accounts/edge-4/close",
    '{"x":{"a":[{"c":4,"d":3},2],"b":1},"reason":"gone"}',
    {
      "idempotency-key": "nested-0123456789",
    },
  );
  t.is(otherArrayOrder.status, 422, "array order counts");
  t.is(otherArrayOrder.json.code, "idempotency_key_reused");
});

test("a key stored before requests were compared parsed (a hash of the body's bytes) still replays the same bytes", async (t) => {
  const { database } = t.context;
  const raw = '{ "reason": "manual" }';
  const legacyHash = createHash("sha256")
    .update(`POST /accounts/edge-5/balance-refreshes\n\n${raw}`)
    .digest("hex");
  const storedBody =
    '{"accountId":"edge-5","streamId":"account-edge-5","revision":1,"position":null,"events":[]}';
  await database.pool.query(
    `insert into "${database.schema}".idempotency_keys (caller, key, request_hash, status, content_type, body)
      values ('ops', 'legacy-0123456789', $1, 202, 'application/json; charset=utf-8', $2)`,
    [legacyHash, storedBody],
  );
  const key = { "idempotency-key": "legacy-0123456789" };
  const same = await command(t, "POST", "/accounts/edge-5/balance-refreshes", raw, key);
  t.is(same.status, 202);
  t.is(same.text, storedBody);
  t.is(same.headers.get("idempotent-replayed"), "true");
  const respaced = await command(t, "POST", "/accounts/edge-5/balance-refreshes", '{"reason":"manual"}', key);
  t.is(respaced.status, 422, "an old key knows only its bytes");
});

test("a wrong API key is 401 invalid_api_key, distinct from a missing one", async (t) => {
  const body = JSON.stringify(account("edge-6"));
  const none = await command(t, "POST", "/accounts", body, { authorization: "" });
  t.is(none.status, 401);
  t.like(none.json, { code: "unauthenticated", title: "An API key is required" });
  for (const authorization of ["Bearer not-a-real-key-000000", "Bearer short", `Basic ${KEY}`]) {
    const wrong = await command(t, "POST", "/accounts", body, { authorization });
    t.is(wrong.status, 401, authorization);
    t.true(wrong.type.startsWith("application/problem+json"), authorization);
    t.like(wrong.json, { code: "invalid_api_key", title: "The API key is not valid" }, authorization);
    t.regex(wrong.headers.get("www-authenticate") ?? "", /error="invalid_token"/, authorization);
  }
});

test("header fields over the server's limit are a 431 with a problem+json body", async (t) => {
  const { port } = new URL(t.context.url);
  const socket = connect(Number(port), "127.0.0.1");
  socket.write(`GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ${"x".repeat(64 * 1024)}\r\n\r\n`);
  let raw = "";
  for await (const chunk of socket) raw += String(chunk);
  const [head = "", body = ""] = raw.split("\r\n\r\n");
  t.regex(head, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  t.regex(head, /\r\nContent-Type: application\/problem\+json\r\n/i);
  t.like(JSON.parse(body) as Record<string, unknown>, {
    status: 431,
    code: "request_header_fields_too_large",
    type: "https://tidemark.dev/problems/request-header-fields-too-large",
  });
});
