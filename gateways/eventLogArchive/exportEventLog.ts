import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { EventStore, RecordedEvent } from "../eventStore/EventStore.ts";
import type { Position } from "../eventStore/Position.ts";
import {
  archiveFileName,
  ArchiveError,
  readManifestIfAny,
  newManifest,
  writeManifest,
  type ArchiveFile,
  type ArchiveManifest,
} from "./ArchiveManifest.ts";
import { archiveLine } from "./ArchivedEvent.ts";
import { readArchiveFile } from "./readArchiveFile.ts";

export interface ExportOptions {
  readonly store: EventStore;
  /** Created if missing; an unfinished export found there is resumed, a finished one refused. */
  readonly directory: string;
  /** Events per file (default 100,000): the unit of resumption and of checksums. */
  readonly eventsPerFile?: number;
  /** Stops after the file being written is abandoned; the archive stays resumable. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ExportProgress) => void;
}

export interface ExportProgress {
  readonly events: number;
  readonly files: number;
  /** True when an unfinished export was found and continued. */
  readonly resumed: boolean;
}

const PARTIAL = ".partial";

/**
 * Exports the whole event log, in global order, as gzip'd NDJSON files of `eventsPerFile` events
 * (every line: the event with its position, stream, revision, id, type, data, metadata, time, and
 * a CRC of its own) plus `manifest.json` with each file's count, first and last position and
 * SHA-256 (and the same sums as `SHA256SUMS`). Streamed: memory stays flat whatever the log's size.
 *
 * Resumable: a file is written as `….partial` and listed in the manifest only once whole, so an
 * export stopped anywhere (Ctrl-C, crash, full disk) is continued by running it again into the
 * same directory — whole files are checked against their sums and kept, the partial one is
 * written again from the last listed position. The archive is marked complete when the export
 * reached the head of the log; events appended meanwhile are in it, later ones are not.
 */
export async function exportEventLog(options: ExportOptions): Promise<ArchiveManifest> {
  const eventsPerFile = options.eventsPerFile ?? 100_000;
  if (!Number.isSafeInteger(eventsPerFile) || eventsPerFile < 1) {
    throw new RangeError(`eventsPerFile must be a whole number ≥ 1, not ${eventsPerFile}`);
  }
  await mkdir(options.directory, { recursive: true });
  const found = await readManifestIfAny(options.directory);
  if (found?.complete === true) {
    throw new ArchiveError(
      `${options.directory} already holds a complete archive (${found.events} events); export into an empty directory`,
    );
  }
  if (found === undefined && (await readdir(options.directory)).length > 0) {
    throw new ArchiveError(
      `${options.directory} is not empty and holds no archive; export into an empty directory`,
    );
  }
  const manifest = found ?? newManifest();
  const resumed = found !== undefined;
  for (const name of await readdir(options.directory)) {
    if (name.endsWith(PARTIAL)) await rm(join(options.directory, name));
  }
  // Whole files from before: still what their sums say? (A damaged one is refused, not kept.)
  for (const file of manifest.files) {
    const lines = readArchiveFile(options.directory, file);
    while ((await lines.next()).done !== true);
  }
  await writeManifest(options.directory, manifest);

  const report = () =>
    options.onProgress?.({ events: manifest.events, files: manifest.files.length, resumed });
  report();
  let writer: ArchiveFileWriter | undefined;
  const from = manifest.lastPosition === null ? undefined : (manifest.lastPosition as Position);
  try {
    for await (const event of options.store.readAll(from)) {
      if (options.signal?.aborted) break;
      writer ??= new ArchiveFileWriter(options.directory, archiveFileName(manifest.files.length + 1));
      await writer.write(event);
      if (writer.events === eventsPerFile) {
        await finishFile(options.directory, manifest, writer);
        writer = undefined;
        report();
      }
    }
    if (options.signal?.aborted) {
      await writer?.abandon();
      return manifest;
    }
    if (writer !== undefined) await finishFile(options.directory, manifest, writer);
  } catch (error) {
    await writer?.abandon();
    throw error;
  }
  manifest.complete = true;
  await writeManifest(options.directory, manifest);
  report();
  return manifest;
}

async function finishFile(
  directory: string,
  manifest: ArchiveManifest,
  writer: ArchiveFileWriter,
): Promise<void> {
  const file = await writer.finish();
  manifest.files.push(file);
  manifest.events += file.events;
  manifest.lastPosition = file.last;
  await writeManifest(directory, manifest);
}

/** One archive file being written: lines → gzip → SHA-256 → `<name>.partial`, renamed when whole. */
class ArchiveFileWriter {
  events = 0;
  readonly #directory: string;
  readonly #name: string;
  readonly #gzip = createGzip();
  readonly #hash = createHash("sha256");
  readonly #written: Promise<void>;
  #first: Position | undefined;
  #last: Position | undefined;

  constructor(directory: string, name: string) {
    this.#directory = directory;
    this.#name = name;
    const hash = this.#hash;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    this.#written = pipeline(this.#gzip, tap, createWriteStream(join(directory, name + PARTIAL)));
    // Until awaited in finish() or abandon(): an early failure must not go unhandled.
    this.#written.catch(() => undefined);
  }

  async write(event: RecordedEvent): Promise<void> {
    this.#first ??= event.position;
    this.#last = event.position;
    this.events += 1;
    if (!this.#gzip.write(`${archiveLine(event)}\n`)) {
      await new Promise<void>((resolve, reject) => {
        this.#gzip.once("drain", resolve);
        this.#written.catch(reject);
      });
    }
  }

  async finish(): Promise<ArchiveFile> {
    this.#gzip.end();
    await this.#written;
    await rename(join(this.#directory, this.#name + PARTIAL), join(this.#directory, this.#name));
    if (this.#first === undefined || this.#last === undefined)
      throw new Error("an archive file without events");
    return {
      name: this.#name,
      events: this.events,
      sha256: this.#hash.digest("hex"),
      first: this.#first,
      last: this.#last,
    };
  }

  async abandon(): Promise<void> {
    this.#gzip.destroy();
    await this.#written.catch(() => undefined);
    await rm(join(this.#directory, this.#name + PARTIAL), { force: true });
  }
}
