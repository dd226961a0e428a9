import test from "ava";
import fc from "fast-check";
import { copyBinaryRows } from "./copyBinaryRows.ts";

/** A binary COPY of `rows` (null: a null field), as PostgreSQL writes it. */
function binaryCopy(rows: readonly (readonly (string | null)[])[], extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from("PGCOPY\n\xff\r\n\0", "latin1")];
  const int = (bytes: number, value: number) => {
    const buffer = Buffer.alloc(bytes);
    if (bytes === 2) buffer.writeInt16BE(value);
    else buffer.writeInt32BE(value);
    return buffer;
  };
  parts.push(int(4, 0), int(4, extension.length), extension);
  for (const row of rows) {
    parts.push(int(2, row.length));
    for (const field of row) {
      if (field === null) parts.push(int(4, -1));
      else {
        const bytes = Buffer.from(field, "utf8");
        parts.push(int(4, bytes.length), bytes);
      }
    }
  }
  parts.push(int(2, -1));
  return Buffer.concat(parts);
}

async function* inPieces(buffer: Buffer, sizes: readonly number[]): AsyncIterable<Buffer> {
  let at = 0;
  for (let index = 0; at < buffer.length; index += 1) {
    const size = Math.max(1, sizes[index % sizes.length] ?? 1);
    // Each piece a turn of the event loop later, as a socket's chunks come.
    yield await Promise.resolve(buffer.subarray(at, at + size));
    at += size;
  }
}

const asText = (buffer: Buffer, starts: Int32Array, ends: Int32Array) =>
  [0, 1].map((field) =>
    (starts[field] ?? -1) === -1 ? null : buffer.toString("utf8", starts[field], ends[field]),
  );

async function readAll(
  chunks: AsyncIterable<Buffer>,
  batchSize = 3,
): Promise<{ rows: (string | null)[][]; batches: number[] }> {
  const rows: (string | null)[][] = [];
  const batches: number[] = [];
  for await (const batch of copyBinaryRows(chunks, 2, asText, batchSize)) {
    batches.push(batch.length);
    rows.push(...batch);
  }
  return { rows, batches };
}

test("property: the rows of a binary COPY come out whole and in order, however its bytes are cut", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.option(fc.string({ unit: "grapheme", maxLength: 40 })), fc.option(fc.string())), {
        maxLength: 20,
      }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
      fc.uint8Array({ maxLength: 6 }),
      async (rows, sizes, extension) => {
        const { rows: read, batches } = await readAll(
          inPieces(binaryCopy(rows, Buffer.from(extension)), sizes),
        );
        t.deepEqual(read, rows);
        t.true(batches.every((size) => size >= 1 && size <= 3));
      },
    ),
  );
});

test("bytes that are not a whole binary COPY of the columns asked for are an error, not fewer rows", async (t) => {
  const whole = binaryCopy([
    ["a", "b"],
    ["c", "d"],
  ]);
  await t.throwsAsync(readAll(inPieces(whole.subarray(0, whole.length - 2), [5])), {
    message: /ended before its last row/,
  });
  await t.throwsAsync(readAll(inPieces(whole.subarray(0, whole.length - 5), [5])), {
    message: /ended before its last row/,
  });
  await t.throwsAsync(readAll(inPieces(Buffer.from("id\tdata\n"), [100])), {
    message: /ended before its last row|not a binary COPY/,
  });
  await t.throwsAsync(readAll(inPieces(Buffer.from("PGCOPY\nnot really a copy at all"), [100])), {
    message: /not a binary COPY/,
  });
  await t.throwsAsync(readAll(inPieces(binaryCopy([["one field"]]), [100])), {
    message: /1 fields, not 2/,
  });
  await t.throwsAsync(readAll(inPieces(Buffer.concat([whole, Buffer.from("x")]), [100])), {
    message: /goes on after its end-of-rows mark/,
  });
});
