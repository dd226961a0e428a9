import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import anyTest, { type TestFn } from "ava";
import { accountDecider } from "../../domain/account/accountDecider.ts";
import { fixedRules } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { PhoneNumber } from "../../domain/values/PhoneNumber.ts";
import type { TimeZone } from "../../domain/values/TimeZone.ts";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";
import { openTestEventStore, type TestEventStore } from "../../test/postgresTestDatabase.ts";
import { handleCommand } from "../handleCommand.ts";
import { loadRules } from "../rules/loadRules.ts";
import type { BalanceFileRow } from "./BalanceFileRow.ts";
import { BalanceImports } from "./BalanceImports.ts";
import { importBalanceRows, rowEventIds, type BadRow } from "./importBalanceRows.ts";
import { WrongExpectedRevisionError } from "../../gateways/eventStore/EventStoreError.ts";
import { withMethods } from "../../gateways/eventStore/withMethods.ts";
import {
  digestOf,
  importBalanceFile,
  type BalanceFile,
  type BalanceFileImport,
  type ImportBalanceFileOptions,
} from "./importBalanceFile.ts";

const test = anyTest as TestFn<TestEventStore & { imports: BalanceImports }>;

const NOW_MS = Date.UTC(2026, 11, 7, 9);
const clock = () => NOW_MS;

test.before(async (t) => {
  Object.assign(t.context, await openTestEventStore());
  t.context.imports = new BalanceImports(t.context.database.pool, t.context.database.schema);
  await t.context.imports.migrate();
});

test.after.always(async (t) => {
  await t.context.dispose();
});

/** Opens GBP accounts `prefix-1` … `prefix-count`, each with consent, as the command API would. */
async function openAccounts(t: { context: TestEventStore }, prefix: string, count: number): Promise<void> {
  await openAccountsNamed(
    t,
    Array.from({ length: count }, (_, index) => `${prefix}-${index + 1}`),
  );
}

/** Opens GBP accounts with these ids, each with consent, as the command API would. */
async function openAccountsNamed(
  t: { context: TestEventStore },
  accountIds: readonly string[],
): Promise<void> {
  const decider = accountDecider(await loadRules());
  for (const [index, accountId] of accountIds.entries()) {
    await handleCommand(
      t.context.store,
      decider,
      `account-${accountId}`,
      {
        type: "OpenAccount",
        data: {
          accountId,
          customerId: `c-${index + 1}`,
          phone: "+447911123456" as PhoneNumber,
          currency: "GBP",
          timeZone: "Europe/London" as TimeZone,
          consents: { service: true, marketing: false },
          now: epochMsToInstant(NOW_MS - 86_400_000),
        },
      },
      { newEventId: randomUUID, metadata: { correlationId: "setup", actor: "test" } },
    );
  }
}

/** Imports `file` for core-banking into the test's store, under the shipped rules. */
async function importFile(
  t: { context: TestEventStore & { imports: BalanceImports } },
  file: BalanceFile,
  options: Partial<
    Pick<ImportBalanceFileOptions, "concurrency" | "commitEvery" | "onProgress" | "signal">
  > = {},
): Promise<BalanceFileImport> {
  return importBalanceFile({
    imports: t.context.imports,
    store: t.context.store,
    rules: fixedRules(await loadRules()),
    clock,
    file,
    requestedBy: "core-banking",
    ...options,
  });
}

async function fileOf(name: string, format: BalanceFile["format"], bytes: Buffer): Promise<BalanceFile> {
  return {
    name,
    format,
    digest: await digestOf([bytes]),
    // In small pieces, so that rows straddle chunks.
    open: () =>
      Readable.from(
        Array.from({ length: Math.ceil(bytes.length / 7) }, (_, index) =>
          bytes.subarray(index * 7, index * 7 + 7),
        ),
      ),
  };
}

async function eventsOf(t: { context: TestEventStore }, streamId: string): Promise<string[]> {
  return (await collect(t.context.store.readStream(streamId))).map((event) => event.type);
}

const at = "2026-12-07T08:00:00Z";

test("an NDJSON file: each row is recorded as a push is, bad rows are told with their line and reason, and the file goes on", async (t) => {
  await openAccounts(t, "nd", 3);
  const text = [
    JSON.stringify({
      accountId: "nd-1",
      amount: "42.00",
      currency: "GBP",
      balanceType: "InterimAvailable",
      referenceTime: at,
    }),
    "",
    "{not json",
    JSON.stringify({
      accountId: "nd-2",
      amount: "12.345",
      currency: "GBP",
      balanceType: "ITAV",
      referenceTime: at,
    }),
    JSON.stringify({
      accountId: "nd-2",
      amount: "500.00",
      currency: "EUR",
      balanceType: "ITAV",
      referenceTime: at,
    }),
    JSON.stringify({
      accountId: "nd-3",
      amount: "500.00",
      currency: "GBP",
      balanceType: "ForwardAvailable",
      referenceTime: at,
    }),
    JSON.stringify({
      accountId: "nobody",
      amount: "500.00",
      currency: "GBP",
      balanceType: "ITAV",
      referenceTime: at,
    }),
    JSON.stringify({
      accountId: "nd-3",
      amount: "300.00",
      currency: "GBP",
      balanceType: "ITAV",
      referenceTime: "2026-11-01T08:00:00Z",
    }),
    JSON.stringify({
      accountId: "nd-3",
      amount: "300.00",
      currency: "GBP",
      balanceType: "ClosingBooked",
      referenceTime: at,
      bankReference: "eod-1",
    }),
  ].join("\n");
  const file = await fileOf("eod.ndjson", "ndjson", Buffer.from(text));
  const result = await importFile(t, file);
  t.is(result.outcome, "imported");
  t.like(result.batch, {
    status: "done",
    committedRow: 8,
    counts: { rows: 8, recorded: 2, unchanged: 0, refused: 4, invalid: 2 },
  });
  t.deepEqual(
    result.batch.badRows.map((bad) => [bad.line, bad.accountId, bad.reason]),
    [
      [3, null, "invalid"],
      [4, "nd-2", "invalid"],
      [5, "nd-2", "currency_mismatch"],
      [6, "nd-3", "balance_type_not_current"],
      [7, "nobody", "account_not_found"],
      [8, "nd-3", "reference_time_out_of_bounds"],
    ],
  );
  t.regex(result.batch.badRows[1]?.detail ?? "", /row\.amount/);
  // The rules were evaluated: 42.00 is below low-balance's 100.00.
  t.deepEqual(await eventsOf(t, "account-nd-1"), ["AccountOpened", "BalanceObserved", "AccountQualified"]);
  t.deepEqual(await eventsOf(t, "account-nd-3"), ["AccountOpened", "BalanceObserved"]);
  t.deepEqual(await eventsOf(t, "account-nd-2"), ["AccountOpened"]);

  // The same file again does nothing twice.
  const again = await importFile(t, file);
  t.is(again.outcome, "already_imported");
  t.is(again.batch.batchId, result.batch.batchId);
  t.deepEqual(await eventsOf(t, "account-nd-1"), ["AccountOpened", "BalanceObserved", "AccountQualified"]);
});

test("a gzipped CSV file with a header; quoted cells; a bad header refuses the file before any row", async (t) => {
  await openAccounts(t, "csv", 2);
  const csv = [
    "accountId,amount,currency,balanceType,referenceTime,bankReference",
    `csv-1,250.00,GBP,InterimAvailable,${at},"ref, with comma"`,
    `csv-2,-5.00,GBP,ITAV,${at},`,
    `csv-2,"unclosed,GBP,ITAV,${at},`,
  ].join("\r\n");
  const result = await importFile(t, await fileOf("eod.csv.gz", "csv", gzipSync(Buffer.from(csv))));
  t.like(result.batch, { status: "done", counts: { recorded: 2 } });
  const observed = await collect(t.context.store.readStream("account-csv-1"));
  t.like(observed[1]?.data, {
    bankReference: "ref, with comma",
    balance: { minor: "25000", currency: "GBP" },
  });
  // -5.00: below low-balance's threshold and overdrawn's.
  t.deepEqual(await eventsOf(t, "account-csv-2"), [
    "AccountOpened",
    "BalanceObserved",
    "AccountQualified",
    "AccountQualified",
  ]);
  t.true(result.batch.counts.invalid >= 1, "the unclosed quote is a bad row, not the end of the file");

  await t.throwsAsync(
    importFile(t, await fileOf("bad.csv", "csv", Buffer.from("accountId,amount,colour\ncsv-1,1.00,red\n"))),
    { message: /lacks currency, balanceType, referenceTime; unknown columns colour/ },
  );
});

test("an import stopped part-way resumes after its last committed row and records nothing twice", async (t) => {
  await openAccounts(t, "re", 300);
  const rows = Array.from({ length: 300 }, (_, index) =>
    JSON.stringify({
      accountId: `re-${index + 1}`,
      amount: index % 20 === 0 ? "50.00" : "500.00",
      currency: "GBP",
      balanceType: "InterimAvailable",
      referenceTime: at,
    }),
  );
  const file = await fileOf("big.ndjson", "ndjson", Buffer.from(rows.join("\n")));
  const controller = new AbortController();
  let committedBeforeStop = 0;
  // What a checkpoint records covers the committed rows exactly: a process killed after it
  // resumes there, and the rows after it are counted when decided again.
  const countedOtherThanCommitted: string[] = [];
  await t.throwsAsync(
    importFile(t, file, {
      concurrency: 8,
      commitEvery: 25,
      onProgress: (committedRow, counts) => {
        committedBeforeStop = committedRow;
        if (counts.rows !== committedRow || counts.recorded !== committedRow) {
          countedOtherThanCommitted.push(`${committedRow}: ${JSON.stringify(counts)}`);
        }
        if (committedRow >= 100) controller.abort(new Error("the process stops"));
      },
      signal: controller.signal,
    }),
    { message: "the process stops" },
  );
  const stopped = (await t.context.imports.list(10)).find((batch) => batch.fileName === "big.ndjson");
  t.like(stopped, { status: "failed" });
  t.true((stopped?.committedRow ?? 0) >= 100 && (stopped?.committedRow ?? 0) < 300);
  t.is(stopped?.committedRow, committedBeforeStop);
  t.deepEqual(countedOtherThanCommitted, []);

  const resumed = await importFile(t, file, {
    concurrency: 8,
  });
  t.is(resumed.outcome, "imported");
  t.like(resumed.batch, { status: "done", committedRow: 300, counts: { rows: 300, refused: 0, invalid: 0 } });
  // Rows decided after the last checkpoint were decided again: they found their balance there.
  t.is(resumed.batch.counts.recorded + resumed.batch.counts.unchanged, 300);
  for (let index = 1; index <= 300; index += 1) {
    const types = await eventsOf(t, `account-re-${index}`);
    t.deepEqual(
      types,
      index % 20 === 1
        ? ["AccountOpened", "BalanceObserved", "AccountQualified"]
        : ["AccountOpened", "BalanceObserved"],
      `re-${index}`,
    );
  }
});

test("a camt.053 statement: its balances recorded as pushes, the rules evaluated, a balance without its sign a bad row", async (t) => {
  await openAccountsNamed(t, ["GB33BUKB20201555555555", "acc-camt-2"]);
  const bytes = await readFile(new URL("./testdata/camt053.xml", import.meta.url));
  const result = await importFile(t, await fileOf("camt053.xml", "camt", bytes));
  t.like(result.batch, { status: "done", counts: { rows: 4, recorded: 3, refused: 0, invalid: 1 } });
  t.deepEqual(
    result.batch.badRows.map((bad) => [bad.line, bad.reason]),
    [[49, "invalid"]],
  );
  const statement = await collect(t.context.store.readStream("account-GB33BUKB20201555555555"));
  t.deepEqual(
    statement.map((event) => event.type),
    ["AccountOpened", "BalanceObserved", "BalanceObserved", "AccountQualified"],
  );
  t.like(statement[2]?.data, {
    balance: { minor: "4200", currency: "GBP" },
    balanceType: "ClosingBooked",
    referenceTime: "2026-12-06T23:59:59.000Z",
  });
  // -25.00 with a 500.00 credit line included: below both low-balance and overdrawn.
  t.deepEqual(
    (await eventsOf(t, "account-acc-camt-2")).filter((type) => type === "AccountQualified").length,
    2,
  );
});

test("rows decided again after a crash, older than later rows of their account already appended, append nothing (their ids stand)", async (t) => {
  await openAccounts(t, "dup", 3);
  // Thirty rows over three accounts, each account's rows newer and newer.
  const rows: BalanceFileRow[] = Array.from({ length: 30 }, (_, index) => ({
    row: index + 1,
    line: index + 1,
    accountId: `dup-${(index % 3) + 1}`,
    body: {
      amount: `${500 + index}.00`,
      currency: "GBP",
      balanceType: "InterimAvailable",
      referenceTime: new Date(NOW_MS - 3_600_000 + index * 1000).toISOString(),
    },
  }));
  const run = async (afterRow: number) =>
    importBalanceRows({
      store: t.context.store,
      rules: fixedRules(await loadRules()),
      clock,
      rows: (async function* () {
        await Promise.resolve();
        yield* rows;
      })(),
      afterRow,
      concurrency: 4,
      metadata: () => ({ correlationId: "batch-dup", actor: "test" }),
      eventIds: (row) => rowEventIds("batch-dup", NOW_MS, row),
      onCommitted: () => Promise.resolve(),
    });
  // The first run appended every row; its process died with row 10 its last committed one.
  t.like(await run(0), { rows: 30, recorded: 30 });
  const before = await Promise.all([1, 2, 3].map((index) => eventsOf(t, `account-dup-${index}`)));
  const resumed = await run(10);
  // Each account's last row finds its balance the account's; the older ones find their own events.
  t.like(resumed, { rows: 20, recorded: 17, unchanged: 3, refused: 0, invalid: 0 });
  const after = await Promise.all([1, 2, 3].map((index) => eventsOf(t, `account-dup-${index}`)));
  t.deepEqual(after, before, "not one event more, stale or not");
});

test("a row whose account another writer keeps moving is a bad row (write_conflict) after a few rounds; the file goes on", async (t) => {
  await openAccounts(t, "busy", 2);
  const store = withMethods(t.context.store, {
    append: (streamId, expected, events) =>
      streamId === "account-busy-1"
        ? Promise.reject(new WrongExpectedRevisionError(streamId, expected, 99))
        : t.context.store.append(streamId, expected, events),
  });
  const rows: BalanceFileRow[] = ["busy-1", "busy-2"].map((accountId, index) => ({
    row: index + 1,
    line: index + 1,
    accountId,
    body: { amount: "500.00", currency: "GBP", balanceType: "InterimAvailable", referenceTime: at },
  }));
  const bad: BadRow[] = [];
  const counts = await importBalanceRows({
    store,
    rules: fixedRules(await loadRules()),
    clock,
    rows: (async function* () {
      await Promise.resolve();
      yield* rows;
    })(),
    afterRow: 0,
    metadata: () => ({ correlationId: "batch-busy", actor: "test" }),
    onCommitted: (_row, _counts, told) => {
      bad.push(...told);
      return Promise.resolve();
    },
  });
  t.like(counts, { rows: 2, recorded: 1, refused: 1 });
  t.like(bad, [{ row: 1, accountId: "busy-1", reason: "write_conflict" }]);
});

test("a file first read as the wrong format (every row bad) is imported when sent again as its own: a batch is a file read as one format", async (t) => {
  await openAccounts(t, "fmt", 1);
  const bytes = Buffer.from(
    `accountId,amount,currency,balanceType,referenceTime\nfmt-1,42.00,GBP,ITAV,${at}\n`,
  );
  const asNdjson = await importFile(t, await fileOf("eod.csv", "ndjson", bytes));
  t.like(asNdjson.batch, { status: "done", counts: { recorded: 0, invalid: 2 } });
  const asCsv = await importFile(t, await fileOf("eod.csv", "csv", bytes));
  t.is(asCsv.outcome, "imported");
  t.not(asCsv.batch.batchId, asNdjson.batch.batchId);
  t.like(asCsv.batch, { status: "done", counts: { recorded: 1 } });
  t.is((await importFile(t, await fileOf("eod.csv", "csv", bytes))).outcome, "already_imported");
});
