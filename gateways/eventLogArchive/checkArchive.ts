import { comparePositions, type Position } from "../eventStore/Position.ts";
import { ArchiveError, readManifest, type ArchiveManifest } from "./ArchiveManifest.ts";
import type { ArchivedEvent } from "./ArchivedEvent.ts";
import { readArchiveFile } from "./readArchiveFile.ts";

export interface ArchiveCheck {
  readonly manifest: ArchiveManifest;
  readonly streams: number;
  /**
   * Events that come in the log before an earlier revision of their stream (only with
   * `allowRevisionInversions`; otherwise the first one refuses the archive).
   */
  readonly inversions: number;
  /** The first few inversions, for the operator: "stream revision 13 before revision 12". */
  readonly inversionExamples: readonly string[];
}

export interface ArchiveCheckOptions {
  readonly onProgress?: (events: number) => void;
  /**
   * Accept a stream whose revisions are all there, each once, but not in revision order in the
   * log: what a PostgreSQL store written before migration 0004 could hold. The import then keeps
   * the order the log had, which is the order every reader of it saw.
   */
  readonly allowRevisionInversions?: boolean;
}

/** Where a stream's revisions stand while an archive is read: the next one due, and any seen early. */
interface StreamProgress {
  next: number;
  early: Set<number> | undefined;
}

const INVERSION_EXAMPLES = 5;

/**
 * Reads a whole archive once and refuses it at the first fault, naming the file and line: an
 * unfinished export, a damaged or truncated file (gzip, line CRC, line count, SHA-256), positions
 * out of order or not those the manifest lists, a stream whose revisions do not run 0, 1, 2, …
 * without a gap or repeat (and, unless `allowRevisionInversions`, in that order). An archive that
 * passes can be imported into an empty store as it is.
 */
export async function checkArchive(
  directory: string,
  options: ArchiveCheckOptions = {},
): Promise<ArchiveCheck> {
  const { onProgress, allowRevisionInversions = false } = options;
  const manifest = await readManifest(directory);
  if (!manifest.complete) {
    throw new ArchiveError(
      `${directory}: the export did not finish (${manifest.files.length} files so far); run the export again into the same directory to complete it`,
    );
  }
  const streams = new Map<string, StreamProgress>();
  const inversionExamples: string[] = [];
  let inversions = 0;
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
      let stream = streams.get(event.streamId);
      if (stream === undefined) {
        stream = { next: 0, early: undefined };
        streams.set(event.streamId, stream);
      }
      if (takeRevision(stream, event, where, allowRevisionInversions) === "early") {
        inversions += 1;
        if (inversionExamples.length < INVERSION_EXAMPLES) {
          inversionExamples.push(
            `${event.streamId} revision ${event.revision} before revision ${stream.next}`,
          );
        }
      }
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
  for (const [streamId, stream] of streams) {
    if (stream.early !== undefined) {
      throw new ArchiveError(
        `${directory}: ${streamId} has revisions ${[...stream.early].slice(0, 3).join(", ")}… but never revision ${stream.next} (revisions must run from 0 without a gap)`,
      );
    }
  }
  if (events !== manifest.events) {
    throw new ArchiveError(
      `${directory}: ${events} events in the files, the manifest says ${manifest.events}`,
    );
  }
  onProgress?.(events);
  return { manifest, streams: streams.size, inversions, inversionExamples };
}

/**
 * Moves `stream` past `event`'s revision: "in order" when it is the next one due (then past any
 * seen early that follow it), "early" when it comes before a revision still missing.
 * @throws ArchiveError when the revision appears twice, or comes early without `allowRevisionInversions`.
 */
function takeRevision(
  stream: StreamProgress,
  event: ArchivedEvent,
  where: string,
  allowRevisionInversions: boolean,
): "in order" | "early" {
  if (event.revision < stream.next || stream.early?.has(event.revision) === true) {
    throw new ArchiveError(`${where}: ${event.streamId} revision ${event.revision} appears twice`);
  }
  if (event.revision === stream.next) {
    stream.next += 1;
    while (stream.early?.delete(stream.next) === true) stream.next += 1;
    if (stream.early?.size === 0) stream.early = undefined;
    return "in order";
  }
  if (stream.early === undefined && !allowRevisionInversions) {
    throw new ArchiveError(
      `${where}: ${event.streamId} revision ${event.revision}, expected ${stream.next} (revisions must run from 0 without a gap)` +
        ` — if revision ${stream.next} comes later in the archive, the log was written with a stream out of order` +
        " by a version before the fix of migration 0004; `--allow-inversions` imports it in the order it had",
    );
  }
  (stream.early ??= new Set()).add(event.revision);
  return "early";
}
