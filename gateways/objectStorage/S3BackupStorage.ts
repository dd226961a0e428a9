import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  paginateListObjectsV2,
  type S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { MANIFEST_FILE, parseArchiveListing, type ArchiveListing } from "./ArchiveListing.ts";
import {
  BackupStorageError,
  isBackupId,
  type BackupStorage,
  type BackupSummary,
  type PruneResult,
  type TransferOptions,
} from "./BackupStorage.ts";

/** How to reach S3 or an S3-compatible server (MinIO, Ceph, a local test server). */
export interface S3ConnectionOptions {
  readonly region: string;
  /** undefined: AWS's own endpoint for the region. */
  readonly endpoint?: string | undefined;
  /** `bucket` in the path, not the host name: what most S3-compatible servers need. */
  readonly forcePathStyle: boolean;
  /** undefined: the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
}

/** The `S3Client` settings backups need; the entry point constructs the client with them. */
export function s3ClientConfig(options: S3ConnectionOptions): S3ClientConfig {
  return {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    // Since early 2025 the SDK adds a CRC checksum to every upload by default and sends streamed
    // bodies aws-chunked with a trailing checksum. S3-compatible servers that predate that (s3rver,
    // older MinIO and Ceph) store the chunk framing as part of the object: a 300,000-byte file came
    // back as 300,080 bytes. Checksums only where the API requires them; integrity is ours anyway
    // (sha256 in each object's metadata, checked after upload and on download).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 },
  };
}

/** Where in S3 the backups live: `s3://<bucket>/<prefix>/<backup id>/<file>`. */
export interface S3BackupLocation {
  readonly bucket: string;
  /** Without leading or trailing slash, e.g. `tidemark` or `prod/tidemark`. */
  readonly prefix: string;
}

interface ScannedBackup {
  readonly keys: string[];
  bytes: number;
  complete: boolean;
}

/** Object keys per DeleteObjects request (the API's limit). */
const DELETE_BATCH = 1000;

/** The backup storage port on S3 or any S3-compatible server. */
export class S3BackupStorage implements BackupStorage {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(client: S3Client, location: S3BackupLocation) {
    this.#client = client;
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
  }

  async checkAccess(signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), abortable(signal));
    } catch (error) {
      // HeadBucket has no body, so a missing bucket is a bare 404 rather than NoSuchBucket.
      if (statusOf(error) === 404) throw this.#bucketNotFound(error);
      throw this.#translate(error, "checking the bucket");
    }
  }

  async upload(directory: string, backupId: string, options: TransferOptions = {}): Promise<BackupSummary> {
    if (!isBackupId(backupId)) throw new TypeError(`not a backup id: ${backupId}`);
    const { signal, onProgress } = options;
    const manifest = await readLocalManifest(directory);
    if (await this.#hasObjects(backupId, signal)) {
      throw new BackupStorageError("backup_exists", `backup ${backupId} already exists in ${this.#where()}`);
    }
    let bytes = 0;
    let files = 0;
    for (const file of manifest.listing.files) {
      const filePath = path.join(directory, file.name);
      const local = await hashLocalFile(filePath, file.name, directory);
      if (local.sha256 !== file.sha256) {
        throw new BackupStorageError(
          "archive_invalid",
          `${filePath} does not match the sha256 its manifest names (expected ${file.sha256}, got ${local.sha256})`,
        );
      }
      await this.#put(backupId, file.name, local, hashing(createReadStream(filePath)), signal);
      bytes += local.size;
      files += 1;
      onProgress?.({ file: file.name, files, totalFiles: manifest.listing.files.length, bytes });
    }
    const manifestHash = { sha256: sha256Of(manifest.bytes), size: manifest.bytes.length };
    await this.#put(backupId, MANIFEST_FILE, manifestHash, hashing(Readable.from([manifest.bytes])), signal);
    return summaryOf(backupId, manifest.listing, bytes + manifest.bytes.length);
  }

  async list(signal?: AbortSignal): Promise<BackupSummary[]> {
    const complete = [...(await this.#scan(signal))].filter(([, backup]) => backup.complete);
    const summaries = await Promise.all(
      complete.map(async ([id, backup]) => {
        const { listing } = await this.#readManifest(id, signal);
        return summaryOf(id, listing, backup.bytes);
      }),
    );
    return summaries.sort(newestFirst);
  }

  async download(backupId: string, directory: string, options: TransferOptions = {}): Promise<BackupSummary> {
    if (!isBackupId(backupId)) throw this.#noSuchBackup(backupId);
    const { signal, onProgress } = options;
    const manifest = await this.#readManifest(backupId, signal);
    await mkdir(directory, { recursive: true });
    let bytes = manifest.bytes.length;
    let files = 0;
    for (const file of manifest.listing.files) {
      const target = path.join(directory, file.name);
      const received = await this.#get(backupId, file.name, target, signal);
      if (received.sha256 !== file.sha256) {
        await rm(target, { force: true });
        throw new BackupStorageError(
          "checksum_mismatch",
          `backup ${backupId}: ${file.name} does not match the sha256 in its manifest ` +
            `(expected ${file.sha256}, got ${received.sha256}); the stored backup is damaged`,
        );
      }
      bytes += received.size;
      files += 1;
      onProgress?.({ file: file.name, files, totalFiles: manifest.listing.files.length, bytes });
    }
    // Last, as in storage: a directory with a manifest is a whole archive.
    await writeFile(path.join(directory, MANIFEST_FILE), manifest.bytes);
    return summaryOf(backupId, manifest.listing, bytes);
  }

  async prune(keep: number, signal?: AbortSignal): Promise<PruneResult> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be at least 1: ${keep}`);
    const scanned = await this.#scan(signal);
    const ids = [...scanned.keys()].sort().reverse();
    const complete = ids.filter((id) => scanned.get(id)?.complete === true);
    const kept = complete.slice(0, keep);
    const oldestKept = kept.at(-1);
    const deleted = ids.filter((id) =>
      scanned.get(id)?.complete === true ? !kept.includes(id) : oldestKept !== undefined && id < oldestKept,
    );
    for (const id of deleted) {
      const backup = scanned.get(id);
      if (backup !== undefined) await this.#deleteBackup(id, backup, signal);
    }
    return { kept, deleted };
  }

  async #put(
    backupId: string,
    file: string,
    expected: { readonly sha256: string; readonly size: number },
    stream: HashingStream,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const key = this.#key(backupId, file);
    try {
      await this.#call(`uploading ${file}`, () =>
        this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: key,
            Body: stream.readable,
            ContentLength: expected.size,
            Metadata: { sha256: expected.sha256 },
          }),
          abortable(signal),
        ),
      );
    } finally {
      // A failed request may leave the body unread, and with it the file open.
      stream.readable.destroy();
    }
    const sent = stream.digest();
    const stored = await this.#call(`checking ${file}`, () =>
      this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }), abortable(signal)),
    );
    if (
      sent.sha256 !== expected.sha256 ||
      sent.size !== expected.size ||
      stored.ContentLength !== expected.size ||
      stored.Metadata?.sha256 !== expected.sha256
    ) {
      throw new BackupStorageError(
        "checksum_mismatch",
        `backup ${backupId}: ${file} was stored as ${stored.ContentLength ?? "?"} bytes with sha256 ` +
          `${stored.Metadata?.sha256 ?? "(none)"}, but ${expected.size} bytes with sha256 ${expected.sha256} ` +
          `were meant (${sent.size} bytes with sha256 ${sent.sha256} sent)`,
      );
    }
  }

  async #get(
    backupId: string,
    file: string,
    target: string,
    signal: AbortSignal | undefined,
  ): Promise<{ readonly sha256: string; readonly size: number }> {
    return this.#call(`downloading ${file}`, async () => {
      let object;
      try {
        object = await this.#client.send(
          new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(backupId, file) }),
          abortable(signal),
        );
      } catch (error) {
        if (isMissingObject(error)) {
          throw new BackupStorageError(
            "backup_corrupt",
            `backup ${backupId}: ${file} is listed in its manifest but missing from storage`,
          );
        }
        throw error;
      }
      const stream = hashing(object.Body as Readable);
      await pipeline(stream.readable, createWriteStream(target), signal === undefined ? {} : { signal });
      return stream.digest();
    });
  }

  async #readManifest(
    backupId: string,
    signal: AbortSignal | undefined,
  ): Promise<{ readonly bytes: Buffer; readonly listing: ArchiveListing }> {
    let object;
    try {
      object = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(backupId, MANIFEST_FILE) }),
        abortable(signal),
      );
    } catch (error) {
      if (!isMissingObject(error)) throw this.#translate(error, `reading the manifest of ${backupId}`);
      if (await this.#hasObjects(backupId, signal)) {
        throw new BackupStorageError(
          "backup_incomplete",
          `backup ${backupId} has no manifest: its upload did not finish, so it cannot be restored`,
        );
      }
      throw this.#noSuchBackup(backupId);
    }
    const bytes = await this.#call(`reading the manifest of ${backupId}`, async () =>
      Buffer.from((await object.Body?.transformToByteArray()) ?? []),
    );
    const stored = object.Metadata?.sha256;
    if (stored !== sha256Of(bytes)) {
      throw new BackupStorageError(
        "checksum_mismatch",
        `backup ${backupId}: ${MANIFEST_FILE} does not match the sha256 stored with it ` +
          `(${stored ?? "none"}); the stored backup is damaged`,
      );
    }
    const parsed = parseArchiveListing(bytes.toString("utf8"));
    if (!parsed.ok) {
      throw new BackupStorageError(
        "backup_corrupt",
        `backup ${backupId}: ${MANIFEST_FILE} ${parsed.problem}`,
      );
    }
    return { bytes, listing: parsed.listing };
  }

  /** Every object under the prefix, grouped by backup id; keys that are not a backup's are ignored. */
  async #scan(signal: AbortSignal | undefined): Promise<Map<string, ScannedBackup>> {
    const backups = new Map<string, ScannedBackup>();
    const root = `${this.#prefix}/`;
    await this.#call("listing backups", async () => {
      const pages = paginateListObjectsV2(
        { client: this.#client, ...(signal === undefined ? {} : { abortSignal: signal }) },
        { Bucket: this.#bucket, Prefix: root },
      );
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          const key = object.Key ?? "";
          const [id, file, ...deeper] = key.slice(root.length).split("/");
          if (id === undefined || file === undefined || deeper.length > 0 || !isBackupId(id)) continue;
          const backup = backups.get(id) ?? { keys: [], bytes: 0, complete: false };
          backup.keys.push(key);
          backup.bytes += object.Size ?? 0;
          backup.complete ||= file === MANIFEST_FILE;
          backups.set(id, backup);
        }
      }
    });
    return backups;
  }

  async #hasObjects(backupId: string, signal: AbortSignal | undefined): Promise<boolean> {
    const page = await this.#call(`looking for ${backupId}`, () =>
      this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: `${this.#prefix}/${backupId}/`,
          MaxKeys: 1,
        }),
        abortable(signal),
      ),
    );
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  async #deleteBackup(
    backupId: string,
    backup: ScannedBackup,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const manifestKey = this.#key(backupId, MANIFEST_FILE);
    if (backup.complete) {
      await this.#call(`deleting ${backupId}`, () =>
        this.#client.send(
          new DeleteObjectCommand({ Bucket: this.#bucket, Key: manifestKey }),
          abortable(signal),
        ),
      );
    }
    const rest = backup.keys.filter((key) => key !== manifestKey);
    for (let start = 0; start < rest.length; start += DELETE_BATCH) {
      const batch = rest.slice(start, start + DELETE_BATCH);
      const answer = await this.#call(`deleting ${backupId}`, () =>
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.#bucket,
            Delete: { Objects: batch.map((key) => ({ Key: key })), Quiet: true },
          }),
          abortable(signal),
        ),
      );
      const failed = answer.Errors ?? [];
      if (failed.length > 0) {
        throw new BackupStorageError(
          "storage_failed",
          `deleting ${backupId}: ${failed.length} objects not deleted (${failed[0]?.Key ?? "?"}: ${failed[0]?.Code ?? "?"} ${failed[0]?.Message ?? ""})`,
        );
      }
    }
  }

  async #call<T>(doing: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.#translate(error, doing);
    }
  }

  /** A driver or network error as the port's error, one line naming what we were doing. */
  #translate(error: unknown, doing: string): BackupStorageError {
    if (error instanceof BackupStorageError) return error;
    const name = (error as { name?: unknown } | null)?.name;
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    if (name === "AbortError")
      return new BackupStorageError("aborted", `${doing}: stopped`, { cause: error });
    if (name === "CredentialsProviderError") {
      return new BackupStorageError(
        "credentials_missing",
        `no S3 credentials (${message}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile`,
        { cause: error },
      );
    }
    if (error instanceof S3ServiceException) {
      if (error.name === "NoSuchBucket") return this.#bucketNotFound(error);
      if (
        error.$metadata.httpStatusCode === 403 ||
        ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"].includes(error.name)
      ) {
        return new BackupStorageError(
          "access_denied",
          `${doing}: ${this.#where()} refused the credentials (${error.name}: ${message})`,
          { cause: error },
        );
      }
      return new BackupStorageError(
        "storage_failed",
        `${doing}: ${error.name} (HTTP ${error.$metadata.httpStatusCode ?? "?"}): ${message}`,
        { cause: error },
      );
    }
    if (
      name === "TimeoutError" ||
      (typeof code === "string" &&
        [
          "ECONNREFUSED",
          "ECONNRESET",
          "ENOTFOUND",
          "EAI_AGAIN",
          "ETIMEDOUT",
          "EHOSTUNREACH",
          "ENETUNREACH",
          "EPIPE",
        ].includes(code))
    ) {
      return new BackupStorageError("storage_unreachable", `${doing}: cannot reach S3 storage (${message})`, {
        cause: error,
      });
    }
    return new BackupStorageError("storage_failed", `${doing}: ${message}`, { cause: error });
  }

  #bucketNotFound(cause: unknown): BackupStorageError {
    return new BackupStorageError("bucket_not_found", `bucket "${this.#bucket}" does not exist`, { cause });
  }

  #noSuchBackup(backupId: string): BackupStorageError {
    return new BackupStorageError("backup_not_found", `no backup "${backupId}" in ${this.#where()}`);
  }

  #where(): string {
    return `s3://${this.#bucket}/${this.#prefix}/`;
  }

  #key(backupId: string, file: string): string {
    return `${this.#prefix}/${backupId}/${file}`;
  }
}

/** A stream of bytes and, once it has been read to the end, their sha256 and count. */
interface HashingStream {
  readonly readable: Readable;
  digest(): { readonly sha256: string; readonly size: number };
}

function hashing(source: Readable): HashingStream {
  const hash = createHash("sha256");
  let size = 0;
  const readable = Readable.from(
    (async function* () {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  return { readable, digest: () => ({ sha256: hash.copy().digest("hex"), size }) };
}

async function readLocalManifest(
  directory: string,
): Promise<{ readonly bytes: Buffer; readonly listing: ArchiveListing }> {
  const manifestPath = path.join(directory, MANIFEST_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(manifestPath);
  } catch (error) {
    throw new BackupStorageError(
      "archive_invalid",
      `${manifestPath} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  const parsed = parseArchiveListing(bytes.toString("utf8"));
  if (!parsed.ok) throw new BackupStorageError("archive_invalid", `${manifestPath} ${parsed.problem}`);
  if (!parsed.listing.complete) {
    throw new BackupStorageError("archive_invalid", `${manifestPath} says the export did not finish`);
  }
  return { bytes, listing: parsed.listing };
}

async function hashLocalFile(
  filePath: string,
  name: string,
  directory: string,
): Promise<{ readonly sha256: string; readonly size: number }> {
  try {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(filePath) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { sha256: hash.digest("hex"), size };
  } catch (error) {
    throw new BackupStorageError(
      "archive_invalid",
      `${name} is listed in ${path.join(directory, MANIFEST_FILE)} but cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

function sha256Of(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function summaryOf(id: string, listing: ArchiveListing, bytes: number): BackupSummary {
  return {
    id,
    createdAt: listing.createdAt,
    events: listing.events,
    lastPosition: listing.lastPosition,
    files: listing.files.length,
    bytes,
  };
}

function newestFirst(a: BackupSummary, b: BackupSummary): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A `send` option: stop the request when `signal` aborts. */
function abortable(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isMissingObject(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NoSuchKey" || (statusOf(error) === 404 && name !== "NoSuchBucket");
}
