import { createWriteStream } from "node:fs";

/**
 * The same balances as NDJSON (the import's format, one push body with its accountId a line) and
 * as CSV (COPY's): one `ClosingBooked` balance for each of `bench-1` … `bench-<rows>`, every 20th
 * at 50.00 (under low-balance's threshold), the rest at 500.00.
 */
export async function writeBalanceFiles(
  ndjson: string,
  csv: string,
  rows: number,
  referenceTime: string,
): Promise<void> {
  const json = createWriteStream(ndjson);
  const text = createWriteStream(csv);
  text.write("account_id,amount,currency,balance_type,reference_time\n");
  for (let index = 1; index <= rows; index += 1) {
    const amount = index % 20 === 0 ? "50.00" : "500.00";
    const wroteJson = json.write(
      `{"accountId":"bench-${index}","amount":"${amount}","currency":"GBP","balanceType":"ClosingBooked","referenceTime":"${referenceTime}"}\n`,
    );
    const wroteText = text.write(`bench-${index},${amount},GBP,ClosingBooked,${referenceTime}\n`);
    if (!wroteJson) await new Promise<void>((resolve) => json.once("drain", () => resolve()));
    if (!wroteText) await new Promise<void>((resolve) => text.once("drain", () => resolve()));
  }
  await Promise.all([
    new Promise<void>((resolve) => json.end(() => resolve())),
    new Promise<void>((resolve) => text.end(() => resolve())),
  ]);
}
