import { randomBytes } from "node:crypto";

/**
 * A backup as storage holds it: the files of an exported event log archive (a directory with
 * `manifest.json` and the files it lists) under one id. The manifest is stored last, so a backup
 * whose manifest is missing is an upload that did not finish; it is never listed or restored.
 */
export interface BackupSummary {
  readonly id: string;
  /** The manifest's `createdAt`: when the export was taken. */
  readonly createdAt: string;
  readonly events: number;
  readonly lastPosition: string | null;
  /** Data files the manifest lists (the manifest itself not counted). */
  readonly files: number;
  /** Bytes stored, the manifest included. */
  readonly bytes: number;
}

/** Files transferred so far, out of `totalFiles` (the manifest not counted). */
export interface TransferProgress {
  readonly file: string;
  readonly files: number;
  readonly totalFiles: number;
  readonly bytes: number;
}

export interface TransferOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: TransferProgress) => void;
}

/** What `prune` removed and kept, ids newest first. */
export interface PruneResult {
  readonly kept: readonly string[];
  readonly deleted: readonly string[];
}

/**
 * Where backups of the event log live (object storage). Every expected failure is a
 * `BackupStorageError`; a malformed backup id or `keep` is the caller's bug (TypeError, RangeError).
 */
export interface BackupStorage {
  /** Fails fast, before a long export, when the bucket is missing, unreachable or refuses us. */
  checkAccess(signal?: AbortSignal): Promise<void>;
  /**
   * Stores the archive in `directory` as backup `backupId`: each file the manifest lists, checked
   * against the manifest's sha256 before it leaves and against the stored object's size and
   * sha256 after; the manifest last.
   */
  upload(directory: string, backupId: string, options?: TransferOptions): Promise<BackupSummary>;
  /** Complete backups (those with a manifest), newest first. */
  list(signal?: AbortSignal): Promise<BackupSummary[]>;
  /**
   * Writes backup `backupId` into `directory` (created if missing) as an archive directory; each
   * file must match the sha256 its manifest names, or the download fails naming the file.
   */
  download(backupId: string, directory: string, options?: TransferOptions): Promise<BackupSummary>;
  /**
   * Deletes every complete backup but the newest `keep` (at least 1), and unfinished uploads older
   * than the oldest backup kept (a newer one may be an upload still running). Each backup's
   * manifest goes first, so a half-deleted backup is never listed.
   */
  prune(keep: number, signal?: AbortSignal): Promise<PruneResult>;
}

/** Machine-readable causes of a `BackupStorageError`. */
export type BackupStorageErrorCode =
  | "bucket_not_found"
  | "storage_unreachable"
  | "access_denied"
  | "credentials_missing"
  | "backup_not_found"
  | "backup_incomplete"
  | "backup_exists"
  | "backup_corrupt"
  | "checksum_mismatch"
  | "archive_invalid"
  | "aborted"
  | "storage_failed";

/** Why a storage operation failed; the message is one line fit for an operator. */
export class BackupStorageError extends Error {
  constructor(
    readonly code: BackupStorageErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "BackupStorageError";
  }
}

/** `20261124T090000123Z-3f9a2c`: UTC time to the millisecond, so ids sort by age, plus a random tail. */
const BACKUP_ID = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** Whether `text` is a backup id `createBackupId` could have made. */
export function isBackupId(text: string): boolean {
  return BACKUP_ID.test(text);
}

/** A new backup id for a backup taken at `now`; later backups get greater ids. */
export function createBackupId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, "")}-${randomBytes(3).toString("hex")}`;
}
