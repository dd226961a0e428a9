import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import anyTest, { type TestFn } from "ava";
import { startLocalS3Server, type LocalS3Server } from "../../test/localS3Server.ts";
import { BackupStorageError, createBackupId, type BackupStorage } from "./BackupStorage.ts";
import { S3BackupStorage, s3ClientConfig } from "./S3BackupStorage.ts";

const BUCKET = "tidemark-backups";

type Context = { server: LocalS3Server; client: S3Client; directories: string[] };
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  t.context.server = await startLocalS3Server([BUCKET]);
  t.context.client = new S3Client(
    s3ClientConfig({
      region: "us-east-1",
      endpoint: t.context.server.endpoint,
      forcePathStyle: true,
      credentials: t.context.server.credentials,
    }),
  );
  t.context.directories = [];
});

test.after.always(async (t) => {
  t.context.client.destroy();
  await t.context.server.close();
  for (const directory of t.context.directories) await rm(directory, { recursive: true, force: true });
});

/** Storage under a prefix of the test's own, so tests never see each other's backups. */
function storageFor(t: { context: Context }, bucket = BUCKET): { storage: BackupStorage; prefix: string } {
  const prefix = `test/${randomBytes(4).toString("hex")}`;
  return { storage: new S3BackupStorage(t.context.client, { bucket, prefix }), prefix };
}

async function temporaryDirectory(t: { context: Context }): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), "tidemark-backup-test-"));
  t.context.directories.push(directory);
  return directory;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/**
 * An archive directory as the event log export writes one: gzipped NDJSON files and a manifest
 * naming each file's sha256. The second file is large enough to arrive in many chunks.
 */
async function writeArchive(t: { context: Context }, events = 3): Promise<string> {
  const directory = await temporaryDirectory(t);
  const lines = (from: number, count: number) =>
    Array.from({ length: count }, (_, index) =>
      JSON.stringify({ position: String(from + index), type: "BalanceObserved", data: { n: from + index } }),
    ).join("\n");
  const contents = [
    gzipSync(lines(1, events)),
    // Random bytes do not compress: several megabytes, so the transfer is streamed in chunks.
    Buffer.concat([gzipSync(lines(events + 1, 1)), randomBytes(3 * 1024 * 1024)]),
  ];
  const files = contents.map((bytes, index) => ({
    name: `events-${String(index + 1).padStart(6, "0")}.ndjson.gz`,
    events: index === 0 ? events : 1,
    sha256: sha256(bytes),
    first: index === 0 ? "1" : String(events + 1),
    last: index === 0 ? String(events) : String(events + 1),
  }));
  for (const [index, file] of files.entries()) {
    await writeFile(path.join(directory, file.name), contents[index] ?? Buffer.alloc(0));
  }
  const manifest = {
    format: "tidemark-event-log/1",
    createdAt: "2026-11-24T09:00:00.000Z",
    complete: true,
    events: events + 1,
    lastPosition: String(events + 1),
    files,
  };
  await writeFile(path.join(directory, "manifest.json"), JSON.stringify(manifest, null, 2));
  return directory;
}

async function filesOf(directory: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(directory)).sort();
  return new Map(
    await Promise.all(names.map(async (name) => [name, await readFile(path.join(directory, name))] as const)),
  );
}

const at = (iso: string) => createBackupId(new Date(iso));

test("an uploaded backup is listed and downloads byte for byte as it was uploaded", async (t) => {
  const { storage } = storageFor(t);
  const archive = await writeArchive(t);
  const id = at("2026-11-24T09:00:00Z");
  const progress: number[] = [];

  const uploaded = await storage.upload(archive, id, { onProgress: (p) => progress.push(p.files) });
  const original = await filesOf(archive);
  const totalBytes = [...original.values()].reduce((sum, bytes) => sum + bytes.length, 0);
  t.like(uploaded, { id, events: 4, files: 2, bytes: totalBytes, lastPosition: "4" });
  t.deepEqual(progress, [1, 2]);

  t.deepEqual(await storage.list(), [
    { id, createdAt: "2026-11-24T09:00:00.000Z", events: 4, lastPosition: "4", files: 2, bytes: totalBytes },
  ]);

  const restored = path.join(await temporaryDirectory(t), "restored");
  const downloaded = await storage.download(id, restored);
  t.like(downloaded, { id, events: 4, files: 2, bytes: totalBytes });
  const copies = await filesOf(restored);
  t.deepEqual([...copies.keys()], [...original.keys()]);
  for (const [name, bytes] of original) t.true(copies.get(name)?.equals(bytes), name);
});

test("a file overwritten in the bucket is refused on download, naming the file", async (t) => {
  const { storage, prefix } = storageFor(t);
  const id = at("2026-11-24T09:00:00Z");
  await storage.upload(await writeArchive(t), id);
  await t.context.client.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: `${prefix}/${id}/events-000001.ndjson.gz`,
      Body: gzipSync('{"position":"1","type":"Forged"}'),
    }),
  );

  const target = await temporaryDirectory(t);
  const error = await t.throwsAsync(storage.download(id, target), { instanceOf: BackupStorageError });
  t.is(error.code, "checksum_mismatch");
  t.regex(error.message, /events-000001\.ndjson\.gz does not match the sha256 in its manifest/);
  t.deepEqual(await readdir(target), [], "neither the forged file nor a manifest is left to import");
});

test("a backup whose manifest is missing (an unfinished upload) is not listed and cannot be downloaded", async (t) => {
  const { storage, prefix } = storageFor(t);
  const finished = at("2026-11-24T09:00:00Z");
  const unfinished = at("2026-11-24T10:00:00Z");
  await storage.upload(await writeArchive(t), finished);
  await storage.upload(await writeArchive(t), unfinished);
  await t.context.client.send(
    new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}/${unfinished}/manifest.json` }),
  );

  t.deepEqual(
    (await storage.list()).map((backup) => backup.id),
    [finished],
  );
  const error = await t.throwsAsync(storage.download(unfinished, await temporaryDirectory(t)), {
    instanceOf: BackupStorageError,
  });
  t.is(error.code, "backup_incomplete");
});

test("prune keeps the newest N backups, deletes the rest and unfinished uploads older than those kept", async (t) => {
  const { storage, prefix } = storageFor(t);
  const archive = await writeArchive(t, 1);
  const ids = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"].map((day) =>
    at(`${day}T09:00:00Z`),
  );
  for (const id of ids) await storage.upload(archive, id);
  const oldUnfinished = at("2026-11-19T09:00:00Z");
  const runningUpload = at("2026-11-25T09:00:00Z");
  for (const id of [oldUnfinished, runningUpload]) {
    await t.context.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${prefix}/${id}/events-000001.ndjson.gz`,
        Body: "partial",
      }),
    );
  }

  const result = await storage.prune(3);

  const newestFirst = [...ids].reverse();
  t.deepEqual(result.kept, newestFirst.slice(0, 3));
  t.deepEqual(result.deleted, [...newestFirst.slice(3), oldUnfinished]);
  t.deepEqual(
    (await storage.list()).map((backup) => backup.id),
    newestFirst.slice(0, 3),
  );
  const deletedError = await t.throwsAsync(storage.download(ids[0] ?? "", await temporaryDirectory(t)), {
    instanceOf: BackupStorageError,
  });
  t.is(deletedError.code, "backup_not_found", "every object of a pruned backup is gone");
  const running = await t.throwsAsync(storage.download(runningUpload, await temporaryDirectory(t)), {
    instanceOf: BackupStorageError,
  });
  t.is(running.code, "backup_incomplete", "an upload newer than every kept backup is left alone");
});

test("listing and pruning go past the first page of a listing (1,000 keys) and a delete request's limit", async (t) => {
  const { storage, prefix } = storageFor(t);
  const kept = at("2026-11-24T09:00:00Z");
  await storage.upload(await writeArchive(t, 1), kept);
  const abandoned = at("2026-11-23T09:00:00Z");
  const keys = Array.from({ length: 1_001 }, (_, index) => `${prefix}/${abandoned}/part-${index}`);
  for (let start = 0; start < keys.length; start += 50) {
    await Promise.all(
      keys
        .slice(start, start + 50)
        .map((Key) => t.context.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: "x" }))),
    );
  }

  t.deepEqual(
    (await storage.list()).map((backup) => backup.id),
    [kept],
  );
  t.deepEqual(await storage.prune(1), { kept: [kept], deleted: [abandoned] });
  const left = await t.context.client.send(
    new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/${abandoned}/` }),
  );
  t.is(left.KeyCount, 0);
});

test("an archive file that does not match its manifest is refused before anything is stored", async (t) => {
  const { storage } = storageFor(t);
  const archive = await writeArchive(t);
  await writeFile(path.join(archive, "events-000002.ndjson.gz"), gzipSync("changed after the export"));

  const error = await t.throwsAsync(storage.upload(archive, at("2026-11-24T09:00:00Z")), {
    instanceOf: BackupStorageError,
  });
  t.is(error.code, "archive_invalid");
  t.regex(error.message, /events-000002\.ndjson\.gz does not match the sha256 its manifest names/);
  t.deepEqual(await storage.list(), []);
});

test("a backup id is used once", async (t) => {
  const { storage } = storageFor(t);
  const id = at("2026-11-24T09:00:00Z");
  await storage.upload(await writeArchive(t), id);
  const error = await t.throwsAsync(storage.upload(await writeArchive(t), id), {
    instanceOf: BackupStorageError,
  });
  t.is(error.code, "backup_exists");
});

test("a missing bucket, an unknown backup and an unreachable endpoint are told apart", async (t) => {
  const noBucket = storageFor(t, "no-such-bucket").storage;
  for (const attempt of [noBucket.checkAccess(), noBucket.list()]) {
    const error = await t.throwsAsync(attempt, { instanceOf: BackupStorageError });
    t.is(error.code, "bucket_not_found");
    t.is(error.message, 'bucket "no-such-bucket" does not exist');
  }

  const { storage } = storageFor(t);
  const unknown = await t.throwsAsync(
    storage.download(at("2026-11-24T09:00:00Z"), await temporaryDirectory(t)),
    {
      instanceOf: BackupStorageError,
    },
  );
  t.is(unknown.code, "backup_not_found");

  // A port nothing listens on: the server's, once it is closed.
  const closed = await startLocalS3Server([BUCKET]);
  await closed.close();
  const unreachableClient = new S3Client(
    s3ClientConfig({
      region: "us-east-1",
      endpoint: closed.endpoint,
      forcePathStyle: true,
      credentials: closed.credentials,
    }),
  );
  try {
    const unreachable = new S3BackupStorage(unreachableClient, { bucket: BUCKET, prefix: "test" });
    const error = await t.throwsAsync(unreachable.list(), { instanceOf: BackupStorageError });
    t.is(error.code, "storage_unreachable");
    t.regex(error.message, /ECONNREFUSED/);
  } finally {
    unreachableClient.destroy();
  }
});
