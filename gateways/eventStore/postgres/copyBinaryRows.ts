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
  // What a chunk cut (a row, or the header) is carried to the start of one buffer, the next chunk
  // copied after it: grown when a row needs more, reused for every chunk (a new buffer per chunk
  // kept the garbage collector busy).
  let carried: Buffer = Buffer.alloc(0);
  let carriedLength = 0;
  let headerRead = false;
  let ended = false;
  let batch: Row[] = [];
  for await (const chunk of chunks) {
    let buffer: Buffer = chunk;
    if (carriedLength > 0) {
      carried = grown(carried, carriedLength, carriedLength + chunk.length);
      chunk.copy(carried, carriedLength);
      buffer = carried.subarray(0, carriedLength + chunk.length);
    }
    let at = 0;
    if (!headerRead) {
      const header = headerLength(buffer);
      if (header !== undefined) {
        at = header;
        headerRead = true;
      }
    }
    while (headerRead && !ended && buffer.length - at >= 2) {
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
    carriedLength = buffer.length - at;
    if (carriedLength > 0 && buffer === chunk) {
      carried = grown(carried, 0, carriedLength);
      chunk.copy(carried, 0, at);
    } else if (carriedLength > 0) carried.copyWithin(0, at, buffer.length);
  }
  if (!ended) throw new Error("the binary COPY ended before its last row");
  if (carriedLength > 0) throw new Error("the binary COPY goes on after its end-of-rows mark");
  if (batch.length > 0) yield batch;
}

/** Where the rows begin; undefined while the header is not all in `buffer`. */
function headerLength(buffer: Buffer): number | undefined {
  const signature = buffer.subarray(0, SIGNATURE.length);
  if (!signature.equals(SIGNATURE.subarray(0, signature.length))) throw new Error("not a binary COPY");
  if (buffer.length < HEADER_BYTES) return undefined;
  const length = HEADER_BYTES + buffer.readUInt32BE(HEADER_BYTES - 4);
  return buffer.length < length ? undefined : length;
}

/** `buffer`, or a larger one holding its first `keep` bytes, of at least `length` bytes. */
function grown(buffer: Buffer, keep: number, length: number): Buffer {
  if (buffer.length >= length) return buffer;
  const larger = Buffer.allocUnsafe(Math.max(length, buffer.length * 2));
  buffer.copy(larger, 0, 0, keep);
  return larger;
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
