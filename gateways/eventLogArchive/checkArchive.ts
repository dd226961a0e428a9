import { comparePositions, type Position } from "../eventStore/Position.ts";
import { ArchiveError, readManifest, type ArchiveManifest } from "./ArchiveManifest.ts";
import { readArchiveFile } from "./readArchiveFile.ts";

export interface ArchiveCheck {
  readonly manifest: ArchiveManifest;
  readonly streams: number;
}

/**
 * Reads a whole archive once and refuses it at the first fault, naming the file and line: an
 * unfinished export, a damaged or truncated file (gzip, line CRC, line count, SHA-256), positions
 * out of order or not those the manifest lists, a stream whose revisions do not run 0, 1, 2, …
 * without a gap. An archive that passes can be imported into an empty store as it is.
 */
export async function checkArchive(
  directory: string,
  onProgress?: (events: number) => void,
): Promise<ArchiveCheck> {
  const manifest = await readManifest(directory);
  if (!manifest.complete) {
    throw new ArchiveError(
      `${directory}: the export did not finish (${manifest.files.length} files so far); run the export again into the same directory to complete it`,
    );
  }
  const nextRevision = new Map<string, number>();
  let previous: Position | undefined;
  let events = 0;
  for (const file of manifest.files) {
    let line = 0;
    for await (const event of readArchiveFile(directory, file)) {
      line += 1;
      const where = `${file.name} line ${line}`;
      if (line === 1 && event.position !== file.first) {
        throw new ArchiveError(
          `${where}: position ${event.position}, but the manifest says the file starts at ${file.first}`,
        );
      }
      if (previous !== undefined && comparePositions(event.position, previous) <= 0) {
        throw new ArchiveError(`${where}: position ${event.position} does not come after ${previous}`);
      }
      const expected = nextRevision.get(event.streamId) ?? 0;
      if (event.revision !== expected) {
        throw new ArchiveError(
          `${where}: ${event.streamId} revision ${event.revision}, expected ${expected} (revisions must run from 0 without a gap)`,
        );
      }
      nextRevision.set(event.streamId, expected + 1);
      previous = event.position;
      events += 1;
      if (events % 10_000 === 0) onProgress?.(events);
    }
    if (previous !== file.last) {
      throw new ArchiveError(
        `${file.name}: ends at ${previous ?? "nothing"}, but the manifest says ${file.last}`,
      );
    }
  }
  if (events !== manifest.events) {
    throw new ArchiveError(
      `${directory}: ${events} events in the files, the manifest says ${manifest.events}`,
    );
  }
  onProgress?.(events);
  return { manifest, streams: nextRevision.size };
}
