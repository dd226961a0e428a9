import test from "ava";
import { BalanceFileError, type BalanceFileRow } from "./BalanceFileRow.ts";
import { balanceFileRows, MAX_ROW_BYTES, type BalanceFileFormat } from "./balanceFileRows.ts";

async function rowsOf(text: string, format: BalanceFileFormat): Promise<BalanceFileRow[]> {
  const bytes = Buffer.from(text);
  const rows: BalanceFileRow[] = [];
  // In small pieces: lines straddle chunks.
  const pieces = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, index) =>
    bytes.subarray(index * 7, index * 7 + 7),
  );
  for await (const row of balanceFileRows(
    (async function* () {
      await Promise.resolve();
      yield* pieces;
    })(),
    format,
  ))
    rows.push(row);
  return rows;
}

const HEADER = "accountId,amount,currency,balanceType,referenceTime,bankReference";
const good = (account: string) => `${account},10.00,GBP,ITAV,2026-12-07T09:00:00Z,r-${account}`;
const accounts = (rows: readonly BalanceFileRow[]) =>
  rows.flatMap((row) => ("accountId" in row ? [`${row.accountId}@${row.line}`] : [`bad@${row.line}`]));

test("CSV: a record longer than the limit is one bad row at its line, and every row after it is read", async (t) => {
  const file = [
    HEADER,
    good("a"),
    `b,10.00,GBP,ITAV,2026-12-07T09:00:00Z,${"A".repeat(MAX_ROW_BYTES + 10)}`,
    good("c"),
    good("d"),
  ].join("\n");
  const rows = await rowsOf(file, "csv");
  t.deepEqual(accounts(rows), ["a@2", "bad@3", "c@4", "d@5"]);
  t.like(rows[1], { row: 2, problem: `the line is longer than ${MAX_ROW_BYTES} bytes` });
});

test("CSV: a quote left open is that line's bad row; the lines after it are read, with their own numbers (CRLF counted once)", async (t) => {
  const file = [
    HEADER,
    good("a"),
    `b,"66.00,GBP,ITAV,2026-12-07T09:00:00Z,r`,
    good("c"),
    `d,"1,000.00",GBP,ITAV,2026-12-07T09:00:00Z,"say ""hi"""`,
  ].join("\r\n");
  const rows = await rowsOf(file, "csv");
  t.deepEqual(accounts(rows), ["a@2", "bad@3", "c@4", "d@5"]);
  t.like(rows[1], { problem: "not a CSV record: a quote opened at column 3 is not closed on its line" });
  t.like(rows[3], { body: { amount: "1,000.00", bankReference: 'say "hi"' } });
});

test("CSV: a record with more or fewer fields than the header is a bad row", async (t) => {
  const rows = await rowsOf([HEADER, "a,10.00,GBP", `${good("b")},extra`, good("c")].join("\n"), "csv");
  t.deepEqual(accounts(rows), ["bad@2", "bad@3", "c@4"]);
  t.like(rows[0], { problem: "not a CSV record: 3 fields where the header has 6" });
});

test("CSV: a header naming a column twice is refused (which of the two would be the amount?)", async (t) => {
  await t.throwsAsync(rowsOf(`${HEADER},amount\n${good("a")},-7000.00\n`, "csv"), {
    instanceOf: BalanceFileError,
    message: /columns named twice: amount/,
  });
});

test("CSV: a byte order mark, blank lines and spaces around fields are passed over", async (t) => {
  const rows = await rowsOf(`\uFEFF${HEADER}\n\n a , 10.00 ,GBP,ITAV,2026-12-07T09:00:00Z, "r" \n`, "csv");
  t.deepEqual(rows, [
    {
      row: 1,
      line: 3,
      accountId: "a",
      body: {
        amount: "10.00",
        currency: "GBP",
        balanceType: "ITAV",
        referenceTime: "2026-12-07T09:00:00Z",
        bankReference: "r",
      },
    },
  ]);
});

test("CSV: bad lines are each told as they come, not held until a good one (memory stays bounded)", async (t) => {
  let chunksRead = 0;
  let chunksReadAtFirstRow: number | undefined;
  let told = 0;
  const bytes = (async function* () {
    await Promise.resolve();
    yield Buffer.from(`${HEADER}\n`);
    for (let chunk = 0; chunk < 100; chunk += 1) {
      chunksRead += 1;
      yield Buffer.from("x\n".repeat(10_000));
    }
  })();
  for await (const row of balanceFileRows(bytes, "csv")) {
    chunksReadAtFirstRow ??= chunksRead;
    t.true("problem" in row);
    told += 1;
  }
  t.is(told, 1_000_000);
  t.true(
    (chunksReadAtFirstRow ?? 100) < 5,
    `the first bad row came after ${chunksReadAtFirstRow} of 100 chunks`,
  );
});

test("NDJSON: a byte order mark before the first object is not part of it", async (t) => {
  const rows = await rowsOf(
    `\uFEFF{"accountId":"a","amount":"1.00"}\n{"accountId":"b","amount":"2.00"}\n`,
    "ndjson",
  );
  t.deepEqual(accounts(rows), ["a@1", "b@2"]);
});

test("CSV: a header with a comma too many says so", async (t) => {
  await t.throwsAsync(rowsOf(`${HEADER},\n${good("a")},\n`, "csv"), {
    instanceOf: BalanceFileError,
    message: /unknown columns \(an empty name: a comma too many\?\)/,
  });
});
