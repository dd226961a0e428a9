import { readFile } from "node:fs/promises";
import test from "ava";
import { BalanceFileError, type BalanceFileRow } from "./BalanceFileRow.ts";
import { balanceFileRows } from "./balanceFileRows.ts";

const testdata = (name: string) => new URL(`./testdata/${name}`, import.meta.url);

async function rowsOf(bytes: Buffer): Promise<BalanceFileRow[]> {
  const rows: BalanceFileRow[] = [];
  // In small pieces: elements and text straddle chunks.
  const pieces = Array.from({ length: Math.ceil(bytes.length / 13) }, (_, index) =>
    bytes.subarray(index * 13, index * 13 + 13),
  );
  for await (const row of balanceFileRows(
    (async function* () {
      await Promise.resolve();
      yield* pieces;
    })(),
    "camt",
  ))
    rows.push(row);
  return rows;
}

test("camt.053: each opening, interim or closing balance of each statement is a row; a date alone is placed by its type; other types are passed over", async (t) => {
  const rows = await rowsOf(await readFile(testdata("camt053.xml")));
  t.deepEqual(rows, [
    {
      row: 1,
      line: 14,
      accountId: "GB33BUKB20201555555555",
      body: {
        amount: "300.00",
        currency: "GBP",
        balanceType: "OPBD",
        referenceTime: "2026-12-06T00:00:00.000Z",
      },
    },
    {
      row: 2,
      line: 20,
      accountId: "GB33BUKB20201555555555",
      body: {
        amount: "42.00",
        currency: "GBP",
        balanceType: "CLBD",
        referenceTime: "2026-12-06T23:59:59.000Z",
      },
    },
    {
      row: 3,
      line: 42,
      accountId: "acc-camt-2",
      body: {
        amount: "-25.00",
        currency: "GBP",
        balanceType: "ITAV",
        referenceTime: "2026-12-07T08:00:00Z",
        creditLines: [{ included: true, amount: { amount: "500.00", currency: "GBP" } }],
      },
    },
    { row: 4, line: 49, problem: "the balance has no CdtDbtInd" },
  ]);
});

test("camt.052: a closing balance dated today is placed no later than the report's creation", async (t) => {
  const rows = await rowsOf(await readFile(testdata("camt052.xml")));
  t.deepEqual(rows, [
    {
      row: 1,
      line: 8,
      accountId: "acc-camt-3",
      body: {
        amount: "1500.00",
        currency: "GBP",
        balanceType: "CLBD",
        referenceTime: "2026-12-07T08:45:00.000Z",
      },
    },
  ]);
});

test("what is not a camt report is refused as a file", async (t) => {
  await t.throwsAsync(rowsOf(Buffer.from("<Document><Other/></Document>")), {
    instanceOf: BalanceFileError,
    message: /no camt\.052 or camt\.053 report/,
  });
  await t.throwsAsync(rowsOf(Buffer.from("<Document><BkToCstmrStmt><Stmt></BkToCstmrStmt>")), {
    instanceOf: BalanceFileError,
    message: /not a readable camt report/,
  });
});
