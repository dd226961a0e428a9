import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import anyTest, { type TestFn } from "ava";
import { pino } from "pino";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";
import { startTestCommandApi, type TestCommandApi } from "../../test/startTestCommandApi.ts";
import { BalanceImportRunner } from "../balances/BalanceImportRunner.ts";

const test = anyTest as TestFn<{ api: TestCommandApi; directory: string }>;

const BANK = {
  name: "core-banking",
  key: "bank-key-0123456789abcdef",
  scopes: ["accounts:write", "balances:write"],
};
const SUPPORT = { name: "support", key: "support-key-0123456789abcdef", scopes: ["queries:read"] };
// The test command API's clock is 2026-11-24T09:00Z: balances of that morning count.
const AT = "2026-11-24T08:00:00Z";

test.before(async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "balance-imports-"));
  t.context.directory = directory;
  t.context.api = await startTestCommandApi([BANK, SUPPORT] as never, {
    balanceImportDir: directory,
    balanceImportMaxBytes: 200_000,
  });
});

test.after.always(async (t) => {
  await t.context.api.close();
  await rm(t.context.directory, { recursive: true, force: true });
});

/**
 * The status of a POST of `body` (announced by Content-Length, or chunked): read as soon as it
 * comes, since the server answers 413 without reading the rest and closes the connection.
 */
function statusOfLargeSend(url: string, body: string, announced: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}/balance-imports`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${BANK.key}`,
        "content-type": "application/x-ndjson",
        ...(announced ? { "content-length": Buffer.byteLength(body) } : {}),
      },
    });
    request.on("response", (response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
    });
    request.on("error", reject);
    request.end(body);
  });
}

async function openAccounts(api: TestCommandApi, prefix: string, count: number): Promise<void> {
  for (let index = 1; index <= count; index += 1) {
    const response = await fetch(`${api.url}/accounts`, {
      method: "POST",
      headers: { authorization: `Bearer ${BANK.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        accountId: `${prefix}-${index}`,
        customerId: `c-${index}`,
        phone: "+447911123456",
        currency: "GBP",
        timeZone: "Europe/London",
        consents: { service: true, marketing: false },
      }),
    });
    if (response.status !== 201) throw new Error(`opening ${prefix}-${index}: ${response.status}`);
  }
}

function send(
  api: TestCommandApi,
  body: Uint8Array | string,
  headers: Record<string, string>,
  key: string = BANK.key,
  query = "",
): Promise<Response> {
  return fetch(`${api.url}/balance-imports${query}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, ...headers },
    body,
  });
}

test.serial(
  "a gzipped CSV file sent over HTTP: 202 and Location, imported in the background; the same file again is 200 and the same batch",
  async (t) => {
    const { api } = t.context;
    await openAccounts(api, "http", 3);
    const csv = [
      "accountId,amount,currency,balanceType,referenceTime",
      `http-1,42.00,GBP,ClosingBooked,${AT}`,
      `http-2,420.00,GBP,ClosingBooked,${AT}`,
      `http-3,1.00,EUR,ClosingBooked,${AT}`,
      `nobody,1.00,GBP,ClosingBooked,${AT}`,
    ].join("\n");
    const file = gzipSync(Buffer.from(csv));
    const sent = await send(
      api,
      file,
      { "content-type": "text/csv", "content-encoding": "gzip" },
      BANK.key,
      "?name=eod.csv.gz",
    );
    t.is(sent.status, 202);
    const location = sent.headers.get("location") ?? "";
    t.regex(location, /^\/balance-imports\/[0-9a-f-]{36}$/);
    await api.balanceImports?.runner.idle();
    const status = await fetch(`${api.url}${location}`, { headers: { authorization: `Bearer ${BANK.key}` } });
    t.is(status.status, 200);
    const batch = (await status.json()) as Record<string, unknown>;
    t.like(batch, {
      status: "done",
      fileName: "eod.csv.gz",
      format: "csv",
      requestedBy: "core-banking",
      committedRow: 4,
      counts: { rows: 4, recorded: 2, refused: 2, invalid: 0 },
    });
    t.deepEqual(
      (batch["badRows"] as { line: number; reason: string }[]).map((bad) => [bad.line, bad.reason]),
      [
        [4, "currency_mismatch"],
        [5, "account_not_found"],
      ],
    );
    const stream = await collect(api.store.readStream("account-http-1"));
    t.deepEqual(
      stream.map((event) => event.type),
      ["AccountOpened", "BalanceObserved", "AccountQualified"],
    );
    t.like(stream[1]?.metadata, { actor: "core-banking" });
    t.deepEqual(await readdir(t.context.directory), [], "the file is deleted once imported");

    const again = await send(api, file, { "content-type": "text/csv", "content-encoding": "gzip" });
    t.is(again.status, 200);
    t.is(again.headers.get("location"), location);
    t.is((await collect(api.store.readStream("account-http-1"))).length, 3);
    t.deepEqual(await readdir(t.context.directory), []);

    const list = (await (
      await fetch(`${api.url}/balance-imports`, { headers: { authorization: `Bearer ${BANK.key}` } })
    ).json()) as { imports: { batchId: string }[] };
    t.true(list.imports.some((listed) => location.endsWith(listed.batchId)));
  },
);

test.serial(
  "what the endpoint refuses: another media type or charset, a file too large, no key or the wrong scope, an unknown or malformed batch",
  async (t) => {
    const { api } = t.context;
    const ndjson =
      '{"accountId":"x","amount":"1.00","currency":"GBP","balanceType":"ITAV","referenceTime":"2026-11-24T08:00:00Z"}\n';
    t.is((await send(api, ndjson, { "content-type": "application/pdf" })).status, 415);
    t.is((await send(api, ndjson, { "content-type": "text/csv; charset=latin1" })).status, 415);
    t.is(
      (await send(api, ndjson, { "content-type": "application/x-ndjson", "content-encoding": "br" })).status,
      415,
    );
    t.is(await statusOfLargeSend(api.url, ndjson.repeat(3000), true), 413);
    t.is(await statusOfLargeSend(api.url, ndjson.repeat(3000), false), 413);
    t.deepEqual(await readdir(t.context.directory), [], "nothing of a refused file is kept");
    t.is(
      (await send(api, ndjson, { "content-type": "application/x-ndjson" }, "nope-0123456789abcdef")).status,
      401,
    );
    t.is((await send(api, ndjson, { "content-type": "application/x-ndjson" }, SUPPORT.key)).status, 403);
    t.is(
      (await send(api, ndjson, { "content-type": "application/x-ndjson" }, BANK.key, "?name=../etc")).status,
      400,
    );
    const headers = { authorization: `Bearer ${BANK.key}` };
    t.is(
      (await fetch(`${api.url}/balance-imports/6b1c8a8e-9a53-4a8e-bb2b-0d0d2c1d9a11`, { headers })).status,
      404,
    );
    t.is((await fetch(`${api.url}/balance-imports/not-a-uuid`, { headers })).status, 400);
  },
);

test.serial(
  "a process that stopped mid-file resumes it when it starts again, from the file it kept",
  async (t) => {
    const { api } = t.context;
    const imports = api.balanceImports?.imports;
    if (imports === undefined) return t.fail("no balance imports");
    await openAccounts(api, "crash", 1500);
    const rows = Array.from({ length: 1500 }, (_, index) =>
      JSON.stringify({
        accountId: `crash-${index + 1}`,
        amount: "500.00",
        currency: "GBP",
        balanceType: "ClosingBooked",
        referenceTime: AT,
      }),
    ).join("\n");
    const directory = await mkdtemp(path.join(os.tmpdir(), "balance-imports-crash-"));
    t.teardown(() => rm(directory, { recursive: true, force: true }));
    const options = {
      imports,
      store: api.store,
      rules: { current: () => ({ version: 1, inForce: [], published: [] }) },
      clock: () => Date.UTC(2026, 10, 24, 9),
      directory,
      maxBytes: 10_000_000,
      logger: pino({ level: "silent" }),
    };
    const first = new BalanceImportRunner(options);
    const { Readable } = await import("node:stream");
    const batch = await first.accept({
      body: Readable.from([Buffer.from(rows)]),
      name: "crash.ndjson",
      format: "ndjson",
      requestedBy: "core-banking",
    });
    await first.stop(); // the process goes away part-way
    const stopped = await imports.find(batch.batchId);
    t.not(stopped?.status, "done");
    t.true((stopped?.committedRow ?? 0) < 1500);
    t.is((await readdir(directory)).length, 1, "the file is kept for the next start");

    const next = new BalanceImportRunner(options);
    await next.resumeUnfinished();
    await next.idle();
    t.like(await imports.find(batch.batchId), {
      status: "done",
      committedRow: 1500,
      counts: { rows: 1500, refused: 0, invalid: 0 },
    });
    for (const index of [1, 750, 1500]) {
      t.deepEqual(
        (await collect(api.store.readStream(`account-crash-${index}`))).map((event) => event.type),
        ["AccountOpened", "BalanceObserved"],
      );
    }
    t.deepEqual(await readdir(directory), []);
  },
);

test.serial(
  "a file that cannot be read (a CSV header lacking a column) fails its batch and is not kept to be tried again at every start",
  async (t) => {
    const { api } = t.context;
    const sent = await send(
      api,
      "accountId,amount\nx,1.00\n",
      { "content-type": "text/csv" },
      BANK.key,
      "?name=bad.csv",
    );
    t.is(sent.status, 202);
    await api.balanceImports?.runner.idle();
    const status = await fetch(`${api.url}${sent.headers.get("location") ?? ""}`, {
      headers: { authorization: `Bearer ${BANK.key}` },
    });
    const batch = (await status.json()) as { status: string; error: string };
    t.is(batch.status, "failed");
    t.regex(batch.error, /the header lacks currency, balanceType, referenceTime/);
    t.deepEqual(await readdir(t.context.directory), [], "nothing left to resume");
  },
);
