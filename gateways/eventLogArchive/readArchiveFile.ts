import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { ArchiveError, type ArchiveFile } from "./ArchiveManifest.ts";
import { parseArchiveLine, type ArchivedEvent } from "./ArchivedEvent.ts";

/**
 * The events of one archive file, in order, each line checked (its CRC, its fields). Throws an
 * `ArchiveError` naming the file and line at the first bad line, when the file ends early
 * (truncated gzip, fewer lines than the manifest says) and when its SHA-256 differs from the
 * manifest's. The events before a failure have been yielded: callers that must not act on a bad
 * file read it through once before acting (see `checkArchive`).
 */
export async function* readArchiveFile(directory: string, file: ArchiveFile): AsyncGenerator<ArchivedEvent> {
  const path = join(directory, file.name);
  const hash = createHash("sha256");
  const source = createReadStream(path);
  const gunzip = createGunzip();
  source.on("data", (chunk) => hash.update(chunk));
  source.on("error", (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let line = 0;
  const where = () => `${file.name} line ${line}`;
  const parse = (text: string): ArchivedEvent => {
    line += 1;
    if (line > file.events) {
      throw new ArchiveError(`${where()}: more lines than the ${file.events} the manifest lists`);
    }
    const parsed = parseArchiveLine(text);
    if ("problem" in parsed) throw new ArchiveError(`${where()}: ${parsed.problem}`);
    return parsed;
  };
  try {
    for await (const chunk of gunzip) {
      pending += decoder.write(chunk as Buffer);
      let start = 0;
      for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n", start)) {
        yield parse(pending.slice(start, end));
        start = end + 1;
      }
      pending = pending.slice(start);
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : (error as Error).message;
    throw new ArchiveError(
      `${file.name}: ${reason}${line > 0 ? ` (after line ${line}, the last whole line read)` : ""} — the file is damaged or truncated`,
    );
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  pending += decoder.end();
  if (pending !== "") {
    line += 1;
    throw new ArchiveError(`${where()}: cut short (no line end) — the file is truncated`);
  }
  if (line < file.events) {
    throw new ArchiveError(
      `${file.name}: ends after line ${line}, but the manifest lists ${file.events} events — the file is truncated`,
    );
  }
  const sha256 = hash.digest("hex");
  if (sha256 !== file.sha256) {
    throw new ArchiveError(`${file.name}: SHA-256 ${sha256} differs from the manifest's ${file.sha256}`);
  }
}
