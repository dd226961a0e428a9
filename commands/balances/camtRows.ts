import { SaxesParser, type SaxesTagPlain } from "saxes";
import { CURRENT_BALANCE_PRECEDENCE, parseBalanceType } from "../../domain/values/BalanceType.ts";
import { BalanceFileError, type BalanceFileRow } from "./BalanceFileRow.ts";

/**
 * The balances of an ISO 20022 cash management report, streamed (saxes): `camt.053`
 * (BkToCstmrStmt, statements) and `camt.052` (BkToCstmrAcctRpt, intraday reports), any version.
 * Each `Bal` of a statement or report that is today's balance (opening, interim, closing; see
 * `CURRENT_BALANCE_PRECEDENCE`) becomes one row, as a push's body beside its account:
 * - the account: `Acct/Id/IBAN`, or `Acct/Id/Othr/Id`;
 * - the amount: `Amt` in its `Ccy`, negative when `CdtDbtInd` is `DBIT`;
 * - the type: `Tp/CdOrPrtry/Cd` (CLBD, ITAV…);
 * - the time: `Dt/DtTm`; for a date alone (`Dt/Dt`), the start of that day (UTC) for an opening
 *   balance, and for the others the end of that day or the report's creation (`GrpHdr/CreDtTm`),
 *   whichever is earlier (a balance is not later than the report that gives it);
 * - credit lines: each `CdtLine` (`Incl`, `Amt`).
 * Other types (forward, expected, information, previously closed) are not today's balance and
 * are passed over. A balance that lacks what it needs is a bad row with its line.
 */
export async function* camtRows(bytes: AsyncIterable<Buffer>): AsyncIterable<BalanceFileRow> {
  const parser = new SaxesParser({ xmlns: false, position: true });
  const reader = new CamtReader();
  const ready: BalanceFileRow[] = [];
  let failure: Error | undefined;
  // Where the last tag was: saxes holds a text whole until it ends (see the loop below).
  let lastEventAt = 0;
  parser.on("opentag", (tag) => {
    lastEventAt = parser.position;
    reader.open(tag, parser.line);
  });
  parser.on("text", (text) => reader.text(text));
  parser.on("cdata", (text) => reader.text(text));
  parser.on("closetag", (tag) => {
    lastEventAt = parser.position;
    const row = reader.close(tag.name);
    if (row !== undefined) ready.push(row);
  });
  parser.on("error", (error) => (failure ??= error));
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of bytes) {
    parser.write(decoder.decode(chunk, { stream: true }));
    if (failure !== undefined) break;
    // The parser holds a text (or a tag) whole until it ends: one that never does would hold the
    // whole file. No value of a balance report comes near this.
    if (parser.position - lastEventAt > MAX_XML_RUN_CHARS) {
      failure = new Error(
        `more than ${MAX_XML_RUN_CHARS} characters without a tag, from line ${parser.line}: not a balance report`,
      );
      break;
    }
    yield* ready.splice(0);
  }
  if (failure === undefined) parser.close();
  if (failure !== undefined) throw new BalanceFileError(`not a readable camt report: ${failure.message}`);
  if (!reader.sawReport)
    throw new BalanceFileError("no camt.052 or camt.053 report (BkToCstmrStmt, BkToCstmrAcctRpt)");
  yield* ready.splice(0);
}

const CURRENT: ReadonlySet<string> = new Set(CURRENT_BALANCE_PRECEDENCE);
/** The longest run of characters between two tags the reader holds (1 MiB). */
const MAX_XML_RUN_CHARS = 1 << 20;
const DAY_MS = 86_400_000;
const XML_BOOLEAN: ReadonlySet<string> = new Set(["true", "false", "1", "0"]);
/** An ISO 8601 date-time that says its zone (Z or an offset). */
const ZONED_TIME = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** What one `Bal` has said so far. */
interface BalanceSeen {
  line: number;
  code?: string | undefined;
  amount?: string | undefined;
  currency?: string | undefined;
  debit?: boolean | undefined;
  date?: string | undefined;
  dateTime?: string | undefined;
  creditLines: {
    included?: boolean;
    inclusion?: string;
    amount?: string | undefined;
    currency?: string | undefined;
  }[];
}

/** Follows the element path; collects each statement's account and each of its balances. */
class CamtReader {
  sawReport = false;
  readonly #path: string[] = [];
  #text = "";
  #createdAt: string | undefined;
  #account: { iban?: string; other?: string } = {};
  #balance: BalanceSeen | undefined;
  #amountCurrency: string | undefined;
  #row = 0;

  open(tag: SaxesTagPlain, line: number): void {
    const name = localName(tag.name);
    this.#path.push(name);
    this.#text = "";
    if (name === "BkToCstmrStmt" || name === "BkToCstmrAcctRpt") this.sawReport = true;
    if (name === "Stmt" || name === "Rpt") this.#account = {};
    if (name === "Bal" && this.#within("Stmt", "Rpt")) this.#balance = { line, creditLines: [] };
    if (name === "CdtLine") this.#balance?.creditLines.push({});
    if (name === "Amt") {
      const currency = tag.attributes["Ccy"];
      this.#amountCurrency = typeof currency === "string" ? currency : undefined;
    }
  }

  text(text: string): void {
    this.#text += text;
  }

  close(tagName: string): BalanceFileRow | undefined {
    const name = localName(tagName);
    const value = this.#text.trim();
    const parent = this.#path.at(-2);
    this.#path.pop();
    this.#text = "";
    if (name === "CreDtTm" && parent === "GrpHdr") this.#createdAt = value;
    if (this.#balance === undefined) {
      if (name === "IBAN" && this.#endsWith("Acct", "Id")) this.#account.iban = value;
      if (name === "Id" && this.#endsWith("Acct", "Id", "Othr")) this.#account.other = value;
      return undefined;
    }
    const balance = this.#balance;
    const line = balance.creditLines.at(-1);
    if (name === "Cd" && this.#endsWith("Bal", "Tp", "CdOrPrtry")) balance.code = value;
    if (name === "Amt" && parent === "Bal") {
      balance.amount = value;
      balance.currency = this.#amountCurrency;
    }
    if (name === "Amt" && parent === "CdtLine" && line !== undefined) {
      line.amount = value;
      line.currency = this.#amountCurrency;
    }
    if (name === "Incl" && parent === "CdtLine" && line !== undefined) {
      // An xs:boolean: true, false, 1 or 0.
      line.inclusion = value;
      if (XML_BOOLEAN.has(value)) line.included = value === "true" || value === "1";
    }
    if (name === "CdtDbtInd" && parent === "Bal") balance.debit = value === "DBIT";
    // The balance's own date (Bal/Dt), not a credit line's (Bal/CdtLine/Dt).
    if (name === "Dt" && this.#endsWith("Bal", "Dt")) balance.date = value;
    if (name === "DtTm" && this.#endsWith("Bal", "Dt")) balance.dateTime = value;
    if (name !== "Bal") return undefined;
    this.#balance = undefined;
    return this.#rowOf(balance);
  }

  #rowOf(balance: BalanceSeen): BalanceFileRow | undefined {
    const type = balance.code === undefined ? undefined : parseBalanceType(balance.code);
    if (type !== undefined && !CURRENT.has(type)) return undefined;
    const row = (this.#row += 1);
    const accountId = this.#account.iban ?? this.#account.other;
    const problem =
      accountId === undefined
        ? "the statement's account has no IBAN or Othr/Id"
        : balance.code === undefined
          ? "the balance has no type code (Tp/CdOrPrtry/Cd)"
          : balance.amount === undefined || balance.currency === undefined
            ? "the balance has no amount with its currency (Amt Ccy)"
            : balance.debit === undefined
              ? "the balance has no CdtDbtInd"
              : balance.creditLines.some((line) => line.included === undefined)
                ? `a credit line's Incl is ${JSON.stringify(balance.creditLines.find((line) => line.included === undefined)?.inclusion ?? "missing")}, not true or false`
                : undefined;
    if (problem !== undefined || accountId === undefined) {
      return { row, line: balance.line, problem: problem ?? "no account" };
    }
    const referenceTime = this.#referenceTimeOf(balance, type);
    if (referenceTime === undefined) {
      return { row, line: balance.line, problem: "the balance has no date (Dt/Dt or Dt/DtTm)" };
    }
    return {
      row,
      line: balance.line,
      accountId,
      body: {
        amount:
          balance.debit === true && balance.amount !== undefined ? `-${balance.amount}` : balance.amount,
        currency: balance.currency,
        balanceType: balance.code,
        referenceTime,
        ...(balance.creditLines.length === 0
          ? {}
          : {
              creditLines: balance.creditLines.map((line) => ({
                included: line.included === true,
                ...(line.amount === undefined
                  ? {}
                  : { amount: { amount: line.amount, currency: line.currency } }),
              })),
            }),
      },
    };
  }

  /** The balance's time: as given, or from its date as the type says (see `camtRows`). */
  #referenceTimeOf(balance: BalanceSeen, type: string | undefined): string | undefined {
    if (balance.dateTime !== undefined) return balance.dateTime;
    if (balance.date === undefined) return undefined;
    // An xs:date may carry its zone (2026-12-07+01:00): the day starts at midnight there.
    const dated = /^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$/.exec(balance.date);
    const startMs = dated === null ? Number.NaN : Date.parse(`${dated[1]}T00:00:00${dated[2] ?? "Z"}`);
    if (Number.isNaN(startMs)) return balance.date; // the push's schema says what is wrong with it
    if (type?.startsWith("Opening") === true) return new Date(startMs).toISOString();
    const endMs = startMs + DAY_MS - 1000;
    // Only a creation time with its zone: without one, Date.parse would read it in this server's.
    const createdMs =
      this.#createdAt === undefined || !ZONED_TIME.test(this.#createdAt)
        ? Number.NaN
        : Date.parse(this.#createdAt);
    return new Date(Number.isNaN(createdMs) ? endMs : Math.min(endMs, createdMs)).toISOString();
  }

  #within(...names: string[]): boolean {
    return this.#path.some((name) => names.includes(name));
  }

  /** Whether the open elements end with `names` and then the element being closed. */
  #endsWith(...names: string[]): boolean {
    const tail = this.#path.slice(-names.length);
    return tail.length === names.length && tail.every((name, index) => name === names[index]);
  }
}

/** An element's name without its namespace prefix. */
function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(colon + 1);
}
