import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import { ArchiveError } from "../gateways/eventLogArchive/ArchiveManifest.ts";
import { exportEventLog } from "../gateways/eventLogArchive/exportEventLog.ts";
import { ImportRefusedError, importEventLog } from "../gateways/eventLogArchive/importEventLog.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import {
  BackupStorageError,
  createBackupId,
  isBackupId,
  type BackupStorage,
  type BackupStorageErrorCode,
  type BackupSummary,
  type PruneResult,
} from "../gateways/objectStorage/BackupStorage.ts";
import { S3BackupStorage, s3ClientConfig } from "../gateways/objectStorage/S3BackupStorage.ts";
import { connectDatabase, openEventStoreDb, runCommandLine, UsageError } from "./commandLine.ts";
import { loadConfig, type Config } from "./loadConfig.ts";

const USAGE = `Usage: npm run backup -- <command> [options]

Commands:
  create                   export the event log and upload it as a new backup; prints its id
  list                     backups, newest first (an upload that did not finish is not one)
  restore <id> | latest    download a backup, check every file against its manifest, import it
                           into the (empty) event store; then: npm run projections -- rebuild --all
  prune --keep <n>         delete all but the newest <n> backups, and unfinished uploads older
                           than those kept

Options:
  --keep <n>               how many backups prune keeps (at least 1)
  --allow-inversions       restore: accept a log whose streams are not all in revision order (written
                           before the event store's migration 0004), keeping its order (see
                           npm run event-log -- --help)
  --allow-duplicate-ids    restore: accept a log in which an event id stands twice (written before
                           migration 0004), keeping both
  --json                   machine-readable result on stdout (no progress)
  -h, --help               this text

Backups go to s3://<BACKUP_S3_BUCKET>/<BACKUP_S3_PREFIX>/<id>/ at BACKUP_S3_ENDPOINT (unset: AWS),
with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an AWS profile or role). create reads and
restore writes the event store in DATABASE_URL, or the embedded PostgreSQL of a running npm start.
Exit status: 0 done, 1 failed (a missing, incomplete or damaged backup, a refused restore), 2 bad
usage, configuration, or nothing to connect to (storage, bucket, credentials, database).`;

/** The PostgreSQL event store's schema, as bin/tidemark.ts creates it. */
const EVENT_STORE_SCHEMA = "tidemark";

type Invocation =
  | { readonly command: "create" | "list"; readonly json: boolean }
  | {
      readonly command: "restore";
      readonly backup: string;
      readonly allowInversions: boolean;
      readonly allowDuplicateIds: boolean;
      readonly json: boolean;
    }
  | { readonly command: "prune"; readonly keep: number; readonly json: boolean };

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      keep: { type: "string" },
      "allow-inversions": { type: "boolean", default: false },
      "allow-duplicate-ids": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (command !== "prune" && values.keep !== undefined) throw new UsageError(`${command} takes no --keep`);
  if (command !== "restore" && (values["allow-inversions"] || values["allow-duplicate-ids"]))
    throw new UsageError(`${command} takes no --allow-inversions or --allow-duplicate-ids`);
  switch (command) {
    case "create":
    case "list":
      if (rest.length > 0) throw new UsageError(`${command} takes no arguments (got ${rest.join(" ")})`);
      return { command, json: values.json };
    case "restore": {
      const [backup, ...more] = rest;
      if (backup === undefined) throw new UsageError("restore: name a backup id, or latest");
      if (more.length > 0) throw new UsageError("restore takes one backup id");
      if (backup !== "latest" && !isBackupId(backup)) {
        throw new UsageError(`restore: "${backup}" is not a backup id (like 20261124T090000123Z-3f9a2c)`);
      }
      return {
        command,
        backup,
        allowInversions: values["allow-inversions"],
        allowDuplicateIds: values["allow-duplicate-ids"],
        json: values.json,
      };
    }
    case "prune": {
      if (rest.length > 0) throw new UsageError(`prune takes no arguments (got ${rest.join(" ")})`);
      const keep = Number(values.keep);
      if (values.keep === undefined || !/^\d{1,6}$/.test(values.keep) || keep < 1) {
        throw new UsageError("prune: --keep <n> is required, a whole number of backups ≥ 1");
      }
      return { command, keep, json: values.json };
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function run(invocation: Invocation, config: Config): Promise<number> {
  const storageConfig = config.backupStorage;
  if (storageConfig === undefined) throw new Error("loadConfig let a backup run without BACKUP_S3_BUCKET");
  if (invocation.command === "restore" && config.eventStore.kind !== "postgres") {
    console.error("backup: restore writes into the PostgreSQL event store; unset EVENT_STORE=eventstoredb");
    return 2;
  }
  const client = new S3Client(s3ClientConfig(storageConfig));
  const storage = new S3BackupStorage(client, storageConfig);
  const stop = new AbortController();
  process.once("SIGINT", () => {
    // Only the transfers and the export can stop half-way; a second Ctrl-C ends the process at
    // once, which is safe too: an import is resumed by restoring the same backup again.
    console.error("\nbackup: stopping… (Ctrl-C again to quit at once)");
    stop.abort();
  });
  const progress = new ProgressLine(!invocation.json);
  try {
    switch (invocation.command) {
      case "create":
        return await create(storage, config, progress, invocation.json, stop.signal);
      case "list":
        return list(await storage.list(stop.signal), invocation.json);
      case "restore":
        return await restore(storage, config, invocation, progress, stop.signal);
      case "prune":
        return prune(await storage.prune(invocation.keep, stop.signal), invocation.json);
    }
  } catch (error) {
    progress.done();
    if (error instanceof BackupStorageError) {
      console.error(`backup: ${error.message}${HINTS[error.code] ?? ""}`);
      return CANNOT_CONNECT.has(error.code) ? 2 : 1;
    }
    if (error instanceof ArchiveError || error instanceof ImportRefusedError) {
      console.error(`backup: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** What the operator can check, after the storage error's own line. */
/** Storage that cannot be reached or entered: exit 2, as every CLI here does for "nothing to connect to". */
const CANNOT_CONNECT: ReadonlySet<BackupStorageErrorCode> = new Set([
  "bucket_not_found",
  "storage_unreachable",
  "access_denied",
  "credentials_missing",
]);

const HINTS: Partial<Record<BackupStorageErrorCode, string>> = {
  bucket_not_found: " (check BACKUP_S3_BUCKET, BACKUP_S3_ENDPOINT and BACKUP_S3_REGION)",
  storage_unreachable: " (check BACKUP_S3_ENDPOINT)",
  access_denied: " (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
  backup_not_found: " (npm run backup -- list shows the backups there are)",
};

async function create(
  storage: BackupStorage,
  config: Config,
  progress: ProgressLine,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  // Before a long export: a missing bucket or wrong credentials should fail in a second.
  await storage.checkAccess(signal);
  const id = createBackupId(new Date());
  return withDatabase(config, async (pool) => {
    // A store written by an older version reads only once migrated (migrations are idempotent).
    if (config.eventStore.kind === "postgres") await PostgresEventStore.migrate(pool, EVENT_STORE_SCHEMA);
    const store: EventStore =
      config.eventStore.kind === "eventstoredb"
        ? await openEventStoreDb(config.eventStore.url)
        : new PostgresEventStore(pool, { schema: EVENT_STORE_SCHEMA });
    const directory = await mkdtemp(path.join(tmpdir(), "tidemark-backup-"));
    try {
      const manifest = await exportEventLog({
        store,
        directory,
        signal,
        onProgress: (update) =>
          progress.show(`export: ${update.events.toLocaleString("en")} events, ${update.files} files`),
      });
      if (!manifest.complete) {
        progress.done();
        console.error("backup: stopped during the export; nothing was uploaded");
        return 1;
      }
      const backup = await storage.upload(directory, id, {
        signal,
        onProgress: (update) =>
          progress.show(
            `upload: ${update.files}/${update.totalFiles} files, ${update.bytes.toLocaleString("en")} bytes`,
          ),
      });
      progress.done();
      if (json) console.log(JSON.stringify(backup));
      else {
        console.log(
          `backup ${backup.id}: ${backup.events.toLocaleString("en")} events, ${backup.files} files, ` +
            `${backup.bytes.toLocaleString("en")} bytes`,
        );
      }
      return 0;
    } finally {
      await rm(directory, { recursive: true, force: true });
      await store.close();
    }
  });
}

async function restore(
  storage: BackupStorage,
  config: Config,
  invocation: Extract<Invocation, { command: "restore" }>,
  progress: ProgressLine,
  signal: AbortSignal,
): Promise<number> {
  const { backup: requested, json } = invocation;
  let id = requested;
  if (requested === "latest") {
    const newest = (await storage.list(signal))[0];
    if (newest === undefined) {
      console.error("backup: there are no backups to restore");
      return 1;
    }
    id = newest.id;
  }
  return withDatabase(config, async (pool) => {
    const directory = await mkdtemp(path.join(tmpdir(), "tidemark-restore-"));
    try {
      const backup = await storage.download(id, directory, {
        signal,
        onProgress: (update) =>
          progress.show(
            `download: ${update.files}/${update.totalFiles} files, ${update.bytes.toLocaleString("en")} bytes`,
          ),
      });
      const imported = await importEventLog({
        pool,
        schema: EVENT_STORE_SCHEMA,
        directory,
        allowRevisionInversions: invocation.allowInversions,
        allowDuplicateEventIds: invocation.allowDuplicateIds,
        onProgress: (update) =>
          progress.show(
            `import: ${update.phase} ${update.events.toLocaleString("en")} / ${update.total.toLocaleString("en")} events`,
          ),
      });
      progress.done();
      if (json) console.log(JSON.stringify({ backup: backup.id, createdAt: backup.createdAt, ...imported }));
      else {
        console.log(
          `restored backup ${backup.id} (taken ${backup.createdAt}): ${imported.events.toLocaleString("en")} events ` +
            `of ${imported.streams.toLocaleString("en")} streams. Now build the read models: ` +
            "npm run projections -- rebuild --all",
        );
      }
      return 0;
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
}

function list(backups: readonly BackupSummary[], json: boolean): number {
  if (json) {
    console.log(JSON.stringify(backups, null, 2));
    return 0;
  }
  if (backups.length === 0) {
    console.log("no backups");
    return 0;
  }
  const rows = [
    ["backup", "taken", "events", "files", "bytes"],
    ...backups.map((backup) => [
      backup.id,
      backup.createdAt,
      backup.events.toLocaleString("en"),
      String(backup.files),
      backup.bytes.toLocaleString("en"),
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) =>
          column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
        )
        .join("  "),
    );
  }
  return 0;
}

function prune(result: PruneResult, json: boolean): number {
  if (json) console.log(JSON.stringify(result));
  else {
    for (const id of result.deleted) console.log(`deleted ${id}`);
    console.log(
      `kept ${result.kept.length} backup${result.kept.length === 1 ? "" : "s"}, deleted ${result.deleted.length}`,
    );
  }
  return 0;
}

/** Runs `work` with a pool on the configured database; an unreachable database fails with one line. */
async function withDatabase(config: Config, work: (pool: pg.Pool) => Promise<number>): Promise<number> {
  const pool = await connectDatabase("backup", config, 4);
  if (pool === undefined) return 2;
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** One progress line on stderr: rewritten in place on a terminal, one line a second otherwise. */
class ProgressLine {
  readonly #enabled: boolean;
  readonly #tty = process.stderr.isTTY;
  #lastPrinted = 0;

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  show(text: string): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#lastPrinted < (this.#tty ? 200 : 1000)) return;
    this.#lastPrinted = now;
    process.stderr.write(this.#tty ? `\r${text}\u001b[K` : `${text}\n`);
  }

  done(): void {
    if (this.#enabled && this.#tty) process.stderr.write("\r\u001b[K");
  }
}

await runCommandLine({
  name: "backup",
  usage: USAGE,
  parse: parseInvocation,
  configure: (invocation) =>
    loadConfig(process.env, { requireApiKeys: false, requireBackupStorage: invocation !== "help" }),
  run,
});
