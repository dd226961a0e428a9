import type { Duplex } from "node:stream";
import { createGunzip } from "node:zlib";
import { BalanceFileError, type BalanceFileRow } from "./BalanceFileRow.ts";
import { camtRows } from "./camtRows.ts";

/**
 * The formats of a bulk balance file: one JSON object per line, CSV with a header row, or an ISO
 * 20022 camt.052 / camt.053 report (`camtRows`).
 */
export const BALANCE_FILE_FORMATS = ["ndjson", "csv", "camt"] as const;
export type BalanceFileFormat = (typeof BALANCE_FILE_FORMATS)[number];

/** The longest row read; a longer one is a bad row, and memory stays bounded whatever the file. */
export const MAX_ROW_BYTES = 16 * 1024;

/** The CSV columns: those of a push's body, beside the account. */
const CSV_COLUMNS = [
  "accountId",
  "amount",
  "currency",
  "balanceType",
  "referenceTime",
  "bankReference",
  "creditLineIncluded",
] as const;
const REQUIRED_CSV_COLUMNS = ["accountId", "amount", "currency", "balanceType", "referenceTime"];

/**
 * The rows of a balance file, streamed: gzip is recognised by its magic bytes and inflated on the
 * way. NDJSON: each non-empty line an object `{"accountId": …, "amount": …, …}` (a push's body
 * beside its account). CSV (RFC 4180 quoting): a header naming `accountId, amount, currency,
 * balanceType, referenceTime` and optionally `bankReference, creditLineIncluded`, each once, then
 * one balance per line (a quoted field does not span lines: no column of a balance holds one).
 * A row that cannot be read is answered as such, with its line, and the file goes on.
 */
export async function* balanceFileRows(
  input: AsyncIterable<Buffer | string>,
  format: BalanceFileFormat,
): AsyncIterable<BalanceFileRow> {
  const bytes = inflated(input);
  yield* format === "ndjson" ? ndjsonRows(bytes) : format === "csv" ? csvRows(bytes) : camtRows(bytes);
}

/** The bytes of `input`, inflated when they start with gzip's magic bytes. */
async function* inflated(input: AsyncIterable<Buffer | string>): AsyncIterable<Buffer> {
  const iterator = input[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (first.done !== true && first.value.length === 0) first = await iterator.next();
  if (first.done === true) return;
  const head = Buffer.from(first.value);
  const rest = async function* (): AsyncIterable<Buffer> {
    yield head;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
      yield Buffer.from(next.value);
    }
  };
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* rest();
    return;
  }
  const gunzip = createGunzip();
  const feeding = feed(gunzip, rest());
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR…) are the file's; a failure to read the bytes
    // (a disk, a connection) is not, and stays what it is: the import may be resumed.
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) {
      throw new BalanceFileError(`the file is not valid gzip: ${(error as Error).message}`);
    }
    throw error;
  } finally {
    await feeding;
  }
}

/**
 * Writes `source` into `destination` as it drains, then ends it; stops when `destination` is
 * destroyed (its reader gave up, or it failed), and destroys it when `source` fails.
 */
async function feed(destination: Duplex, source: AsyncIterable<Buffer>): Promise<void> {
  try {
    for await (const chunk of source) {
      if (destination.destroyed) return;
      if (!destination.write(chunk)) await drainedOrClosed(destination);
    }
    if (!destination.destroyed) destination.end();
  } catch (error) {
    destination.destroy(error as Error);
  }
}

function drainedOrClosed(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
    if (stream.destroyed) done();
  });
}

/** The lines of `bytes` (LF or CRLF), each cut at `MAX_ROW_BYTES` with a mark that it was. */
async function* lines(bytes: AsyncIterable<Buffer>): AsyncIterable<{ text: string; tooLong: boolean }> {
  const line = { parts: [] as Buffer[], bytes: 0, tooLong: false };
  const take = () => {
    const text = Buffer.concat(line.parts).toString("utf8").replace(/\r$/, "");
    const taken = { text, tooLong: line.tooLong };
    line.parts = [];
    line.bytes = 0;
    line.tooLong = false;
    return taken;
  };
  for await (const chunk of bytes) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a, start); end !== -1; end = chunk.indexOf(0x0a, start)) {
      keep(chunk.subarray(start, end));
      yield take();
      start = end + 1;
    }
    keep(chunk.subarray(start));
  }
  if (line.bytes > 0 || line.tooLong) yield take();

  function keep(part: Buffer): void {
    const room = MAX_ROW_BYTES - line.bytes;
    if (part.length > room) line.tooLong = true;
    const kept = part.subarray(0, Math.max(0, room));
    if (kept.length === 0) return;
    line.parts.push(kept);
    line.bytes += kept.length;
  }
}

async function* ndjsonRows(bytes: AsyncIterable<Buffer>): AsyncIterable<BalanceFileRow> {
  let line = 0;
  let row = 0;
  for await (const { text: read, tooLong } of lines(bytes)) {
    line += 1;
    // A byte order mark (some editors write one) is not part of the first object.
    const text = line === 1 ? read.replace(/^\uFEFF/, "") : read;
    if (!tooLong && text.trim() === "") continue;
    row += 1;
    if (tooLong) {
      yield { row, line, problem: `the line is longer than ${MAX_ROW_BYTES} bytes` };
      continue;
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      yield { row, line, problem: `not JSON: ${(error as Error).message}` };
      continue;
    }
    yield rowOf(row, line, record);
  }
}

/** A record's account beside the rest of it, the push's body. */
function rowOf(row: number, line: number, record: unknown): BalanceFileRow {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return { row, line, problem: "must be a JSON object" };
  }
  const { accountId, ...body } = record as Record<string, unknown>;
  if (typeof accountId !== "string") return { row, line, problem: "accountId: must be a string" };
  return { row, line, accountId, body };
}

/**
 * CSV rows, a record a line: no column of a balance may hold a line break, so a quoted field
 * never spans lines, and a quote left open is that line's fault alone (it cannot swallow the
 * rows after it). Fields as RFC 4180 quotes them (`"a ""b"", c"`), trimmed outside quotes.
 */
async function* csvRows(bytes: AsyncIterable<Buffer>): AsyncIterable<BalanceFileRow> {
  let line = 0;
  let row = 0;
  let header: readonly string[] | undefined;
  for await (const { text, tooLong } of lines(bytes)) {
    line += 1;
    const record = line === 1 ? text.replace(/^\uFEFF/, "") : text;
    if (!tooLong && record.trim() === "") continue;
    if (header === undefined) {
      if (tooLong) throw new BalanceFileError(`the header is longer than ${MAX_ROW_BYTES} bytes`);
      const fields = csvFields(record);
      if (typeof fields === "string") throw new BalanceFileError(`the header is not CSV: ${fields}`);
      header = csvHeader(fields);
      continue;
    }
    row += 1;
    if (tooLong) {
      yield { row, line, problem: `the line is longer than ${MAX_ROW_BYTES} bytes` };
      continue;
    }
    const fields = csvFields(record);
    if (typeof fields === "string") {
      yield { row, line, problem: `not a CSV record: ${fields}` };
      continue;
    }
    if (fields.length !== header.length) {
      yield {
        row,
        line,
        problem: `not a CSV record: ${fields.length} fields where the header has ${header.length}`,
      };
      continue;
    }
    const cells: Record<string, string> = {};
    header.forEach((column, index) => (cells[column] = fields[index] ?? ""));
    yield rowOf(row, line, bodyOfCsvRecord(cells));
  }
}

/** The fields of one CSV line (RFC 4180 quoting), or what is wrong with it. */
function csvFields(line: string): string[] | string {
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    while (line[at] === " " || line[at] === "\t") at += 1;
    if (line[at] === '"') {
      let value = "";
      let from = at + 1;
      for (;;) {
        const quote = line.indexOf('"', from);
        if (quote === -1) return `a quote opened at column ${at + 1} is not closed on its line`;
        value += line.slice(from, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          from = quote + 2;
          continue;
        }
        at = quote + 1;
        break;
      }
      while (line[at] === " " || line[at] === "\t") at += 1;
      if (at < line.length && line[at] !== ",") return `text after the closing quote at column ${at + 1}`;
      fields.push(value);
    } else {
      const comma = line.indexOf(",", at);
      const value = line.slice(at, comma === -1 ? line.length : comma).trim();
      if (value.includes('"')) return `a quote inside an unquoted field at column ${at + 1}`;
      fields.push(value);
      at = comma === -1 ? line.length : comma;
    }
    if (at >= line.length) return fields;
    at += 1; // past the comma
  }
}

function csvHeader(header: readonly string[]): string[] {
  const unknown = header.filter((column) => !(CSV_COLUMNS as readonly string[]).includes(column));
  const missing = REQUIRED_CSV_COLUMNS.filter((column) => !header.includes(column));
  const twice = header.filter((column, index) => header.indexOf(column) !== index);
  if (unknown.length > 0 || missing.length > 0 || twice.length > 0) {
    throw new BalanceFileError(
      [
        missing.length > 0 ? `the header lacks ${missing.join(", ")}` : "",
        unknown.length > 0
          ? `unknown columns ${unknown.map((column) => (column === "" ? "(an empty name: a comma too many?)" : column)).join(", ")}`
          : "",
        twice.length > 0 ? `columns named twice: ${[...new Set(twice)].join(", ")}` : "",
      ]
        .filter((part) => part !== "")
        .join("; ") + ` (columns: ${CSV_COLUMNS.join(", ")})`,
    );
  }
  return [...header];
}

/** A CSV record as a push's JSON body: empty optional cells left out, booleans read. */
function bodyOfCsvRecord(record: Readonly<Record<string, string>>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(record)) {
    if (value === "" && !REQUIRED_CSV_COLUMNS.includes(column)) continue;
    body[column] =
      column === "creditLineIncluded" ? (value === "true" ? true : value === "false" ? false : value) : value;
  }
  return body;
}
