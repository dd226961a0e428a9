import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** A fresh TIDEMARK_DATA_DIR for a system on the embedded default, and how to remove it. */
export interface EmbeddedDataDir {
  readonly path: string;
  /** Waits for the embedded PostgreSQL in it to be gone, then removes the directory. */
  dispose(): Promise<void>;
}

export async function createEmbeddedDataDir(purpose: string): Promise<EmbeddedDataDir> {
  const dir = await mkdtemp(path.join(tmpdir(), `tidemark-${purpose}-`));
  await chmod(dir, 0o755); // as root, PostgreSQL runs as "postgres" and must enter it
  return {
    path: dir,
    async dispose() {
      await stopEmbeddedPostgresIn(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

/**
 * Waits for an embedded PostgreSQL still running in `dataDir` to exit (its postmaster.pid is
 * there until it has), and stops it at once (SIGQUIT) if it lingers 10 s: a system stopped under
 * load may have been killed before its PostgreSQL finished shutting down, and files PostgreSQL
 * still writes cannot be removed.
 */
async function stopEmbeddedPostgresIn(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]);
  } catch {
    return; // no postmaster.pid: PostgreSQL has stopped (or never started)
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let waited = 0; Number.isInteger(pid) && pid > 0 && alive() && waited < 30_000; waited += 100) {
    if (waited === 10_000) process.kill(pid, "SIGQUIT");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
