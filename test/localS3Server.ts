import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

/** A local S3-compatible server for tests, and how to reach it. */
export interface LocalS3Server {
  /** `http://127.0.0.1:<port>`; the server wants path-style requests. */
  readonly endpoint: string;
  /** The only key pair the server accepts. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

/**
 * Starts s3rver (the S3 API over the local file system, from the npm registry) on a free loopback
 * port, its objects in a temporary directory of its own, with `buckets` already created.
 *
 * It runs in a child process because its ListObjectsV2 continuation tokens are DES-encrypted,
 * which OpenSSL 3 (Node 17 and later) refuses without the legacy provider: any listing longer
 * than a page would fail with a 500. That flag must not leak into the test process.
 */
export async function startLocalS3Server(buckets: readonly string[]): Promise<LocalS3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), "tidemark-s3-"));
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", "--import", "tsx", "test/localS3ServerProcess.ts", directory, ...buckets],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([lines.next(), exited.then(() => undefined)]);
  const port = first?.done === false ? Number(first.value) : NaN;
  if (!Number.isInteger(port)) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw new Error(`s3rver did not start (exit code ${String(child.exitCode)})`);
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
