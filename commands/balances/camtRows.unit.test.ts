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

/** A camt.053 statement of one account holding `balance` (the inside of one `Bal`). */
function statement(balance: string, createdAt = "2026-12-07T10:00:00Z"): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>m</MsgId><CreDtTm>${createdAt}</CreDtTm></GrpHdr>
    <Stmt>
      <Id>s</Id>
      <Acct><Id><Othr><Id>acc-x</Id></Othr></Id></Acct>
      <Bal>${balance}</Bal>
    </Stmt>
  </BkToCstmrStmt>
</Document>`);
}

const ITAV = `<Tp><CdOrPrtry><Cd>ITAV</Cd></CdOrPrtry></Tp><CdtDbtInd>CRDT</CdtDbtInd>`;

test("camt: a credit line's Incl is an xs:boolean: 1 is included, 0 is not, anything else is a bad row", async (t) => {
  const line = (incl: string) => `<CdtLine><Incl>${incl}</Incl><Amt Ccy="GBP">100.00</Amt></CdtLine>`;
  const balance = (incl: string) =>
    `${ITAV}<Amt Ccy="GBP">15.00</Amt>${line(incl)}<Dt><DtTm>2026-12-07T09:00:00Z</DtTm></Dt>`;
  const included = async (incl: string) => {
    const [row] = await rowsOf(statement(balance(incl)));
    if (row === undefined || !("body" in row)) return row;
    return (row.body as { creditLines?: { included?: boolean }[] }).creditLines?.[0]?.included;
  };
  t.true(await included("1"));
  t.true(await included("true"));
  t.false(await included("0"));
  t.false(await included("false"));
  t.like(await included("yes"), { problem: `a credit line's Incl is "yes", not true or false` });
});

test("camt: the balance's time is its own Bal/Dt, never a credit line's date", async (t) => {
  const [row] = await rowsOf(
    statement(
      `<Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">16.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>` +
        `<CdtLine><Incl>false</Incl><Amt Ccy="GBP">5.00</Amt><Dt><DtTm>2026-12-07T13:00:00Z</DtTm></Dt></CdtLine>` +
        `<Dt><Dt>2026-12-06</Dt></Dt>`,
    ),
  );
  t.like(row, { body: { referenceTime: "2026-12-06T23:59:59.000Z" } });
});

test("camt: an amount in CDATA is read as any other text", async (t) => {
  const [row] = await rowsOf(
    statement(`${ITAV}<Amt Ccy="GBP"><![CDATA[12.00]]></Amt><Dt><DtTm>2026-12-07T09:00:00Z</DtTm></Dt>`),
  );
  t.like(row, { body: { amount: "12.00" } });
});

test("camt: a report's creation time without a zone does not place a dated balance (it would be read in the server's zone)", async (t) => {
  const closing = `<Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-07</Dt></Dt>`;
  t.like((await rowsOf(statement(closing, "2026-12-07T08:45:00")))[0], {
    body: { referenceTime: "2026-12-07T23:59:59.000Z" },
  });
  t.like((await rowsOf(statement(closing, "2026-12-07T08:45:00+01:00")))[0], {
    body: { referenceTime: "2026-12-07T07:45:00.000Z" },
  });
});

test("camt: a text that never ends (a huge value) fails the file instead of filling the memory", async (t) => {
  const huge = Buffer.concat([
    Buffer.from(`<Document><BkToCstmrStmt><Stmt><Bal><Amt Ccy="GBP">`),
    Buffer.alloc(3 << 20, "1"),
  ]);
  await t.throwsAsync(rowsOf(huge), { instanceOf: BalanceFileError, message: /without a tag/ });
});

test("camt: a date that carries its zone starts at midnight there", async (t) => {
  const opening = `<Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-07+01:00</Dt></Dt>`;
  t.like((await rowsOf(statement(opening)))[0], { body: { referenceTime: "2026-12-06T23:00:00.000Z" } });
});
