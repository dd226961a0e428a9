/**
 * PostgreSQL's binary COPY format (`COPY … TO STDOUT (FORMAT binary)`): an 11-byte signature,
 * flags and a header extension, then per row a 16-bit field count and per field a 32-bit length
 * (-1: null) and its bytes, then -1 where the rows end.
 */
const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
const HEADER_BYTES = SIGNATURE.length + 4 + 4;
const END_OF_ROWS = -1;

/** Where a row's fields lie in `buffer`: field i from `starts[i]` to `ends[i]`; a null one starts at -1. */
export type RowDecoder<Row> = (buffer: Buffer, starts: Int32Array, ends: Int32Array) => Row;

/**
 * The rows of a binary COPY as they arrive in `chunks` (rows cross chunk boundaries), each
 * decoded by `decode`, in batches of up to `batchSize`. Throws when the bytes are not a binary
 * COPY of `columns` columns, or end before the end-of-rows mark.
 */
export async function* copyBinaryRows<Row>(
  chunks: AsyncIterable<Buffer>,
  columns: number,
  decode: RowDecoder<Row>,
  batchSize: number,
): AsyncIterable<Row[]> {
  const starts = new Int32Array(columns);
  const ends = new Int32Array(columns);
  let pending: Buffer | undefined;
  let headerRead = false;
  let ended = false;
  let batch: Row[] = [];
  for await (const chunk of chunks) {
    const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    if (!headerRead) {
      if (buffer.length < HEADER_BYTES) {
        pending = buffer;
        continue;
      }
      if (!buffer.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error("not a binary COPY");
      const extension = buffer.readUInt32BE(SIGNATURE.length + 4);
      if (buffer.length < HEADER_BYTES + extension) {
        pending = buffer;
        continue;
      }
      at = HEADER_BYTES + extension;
      headerRead = true;
    }
    while (!ended && buffer.length - at >= 2) {
      const fields = buffer.readInt16BE(at);
      if (fields === END_OF_ROWS) {
        ended = true;
        at += 2;
        break;
      }
      if (fields !== columns) throw new Error(`a binary COPY row of ${fields} fields, not ${columns}`);
      const next = rowEnd(buffer, at + 2, columns, starts, ends);
      if (next === undefined) break;
      batch.push(decode(buffer, starts, ends));
      at = next;
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    pending = at < buffer.length ? buffer.subarray(at) : undefined;
  }
  if (!ended) throw new Error("the binary COPY ended before its last row");
  if (pending !== undefined) throw new Error("the binary COPY goes on after its end-of-rows mark");
  if (batch.length > 0) yield batch;
}

/** Fills `starts` and `ends` with the fields from `at`; where the row ends, or undefined if it is not all here. */
function rowEnd(
  buffer: Buffer,
  at: number,
  columns: number,
  starts: Int32Array,
  ends: Int32Array,
): number | undefined {
  let position = at;
  for (let field = 0; field < columns; field += 1) {
    if (buffer.length - position < 4) return undefined;
    const length = buffer.readInt32BE(position);
    position += 4;
    if (length === -1) {
      starts[field] = -1;
      ends[field] = -1;
      continue;
    }
    if (buffer.length - position < length) return undefined;
    starts[field] = position;
    ends[field] = position + length;
    position += length;
  }
  return position;
}
