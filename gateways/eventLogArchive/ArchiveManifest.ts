import { randomUUID } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

/** The format an archive declares; an importer refuses any other. */
export const ARCHIVE_FORMAT = "tidemark-event-log/1";

/** The file every archive directory has: what the export wrote, and whether it finished. */
export const MANIFEST_FILE = "manifest.json";

/** The same checksums in the form `sha256sum -c` reads. */
export const CHECKSUMS_FILE = "SHA256SUMS";

const position = z.string().regex(/^[0-9a-f]{16}-[0-9a-f]{16}$/, "a position");

const archiveFile = z.object({
  name: z.string().regex(/^events-\d{6}\.ndjson\.gz$/, "events-NNNNNN.ndjson.gz"),
  events: z.number().int().positive(),
  /** SHA-256 (hex) of the file's bytes as written (compressed). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  first: position,
  last: position,
});

const archiveManifest = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  /** Names this export: an import that stopped half-way resumes only with the same archive. */
  archiveId: z.uuid(),
  createdAt: z.string(),
  /** False while an export is under way or was stopped: such an archive cannot be imported. */
  complete: z.boolean(),
  events: z.number().int().nonnegative(),
  lastPosition: position.nullable(),
  files: z.array(archiveFile),
});

/** One file of an archive: gzip'd NDJSON, one event per line, in global order. */
export type ArchiveFile = z.infer<typeof archiveFile>;

/** What an archive holds, file by file, with a checksum each. */
export type ArchiveManifest = z.infer<typeof archiveManifest>;

/** An archive that cannot be read as one: missing, malformed, or not what its manifest says. */
export class ArchiveError extends Error {
  readonly code = "archive_invalid";
}

/** A fresh manifest for an export just starting. */
export function newManifest(): ArchiveManifest {
  return {
    format: ARCHIVE_FORMAT,
    archiveId: randomUUID(),
    createdAt: new Date().toISOString(),
    complete: false,
    events: 0,
    lastPosition: null,
    files: [],
  };
}

/** The name of the archive's `index`-th file (1-based): they sort in log order. */
export function archiveFileName(index: number): string {
  return `events-${String(index).padStart(6, "0")}.ndjson.gz`;
}

/** Reads and validates `manifest.json`; `undefined` when there is none. */
export async function readManifestIfAny(directory: string): Promise<ArchiveManifest | undefined> {
  let text;
  try {
    text = await readFile(join(directory, MANIFEST_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let json;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    throw new ArchiveError(`${join(directory, MANIFEST_FILE)} is not JSON`);
  }
  const parsed = archiveManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ArchiveError(
      `${join(directory, MANIFEST_FILE)} is not a ${ARCHIVE_FORMAT} manifest: ${issue?.path.join(".") ?? ""} ${issue?.message ?? ""}`.trim(),
    );
  }
  return parsed.data;
}

/** Reads and validates `manifest.json`, which must exist. */
export async function readManifest(directory: string): Promise<ArchiveManifest> {
  const manifest = await readManifestIfAny(directory);
  if (manifest === undefined) {
    throw new ArchiveError(`no ${MANIFEST_FILE} in ${directory}: not an event-log archive`);
  }
  return manifest;
}

/** Writes the manifest (and SHA256SUMS) atomically: a crash leaves the old one or the new one. */
export async function writeManifest(directory: string, manifest: ArchiveManifest): Promise<void> {
  const sums = manifest.files.map((file) => `${file.sha256}  ${file.name}\n`).join("");
  await writeFile(join(directory, `${CHECKSUMS_FILE}.tmp`), sums);
  await rename(join(directory, `${CHECKSUMS_FILE}.tmp`), join(directory, CHECKSUMS_FILE));
  await writeFile(join(directory, `${MANIFEST_FILE}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(join(directory, `${MANIFEST_FILE}.tmp`), join(directory, MANIFEST_FILE));
}
