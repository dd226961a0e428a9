import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** Debian's PostgreSQL 15 server binaries (`npm run services` installs them). */
export const POSTGRES_BIN_DIRECTORY = process.env.POSTGRES_BIN_DIR ?? "/usr/lib/postgresql/15/bin";

/** The replication mode of a primary: commits wait for the standby's flush, or they do not. */
export type ReplicationMode = "synchronous" | "asynchronous";

/** The standby's name in `primary_conninfo` and `synchronous_standby_names`. */
export const STANDBY_NAME = "dr_replica";

/**
 * A private PostgreSQL cluster on a loopback port, in a directory of its own: `initdb`, a
 * streaming replica made by `pg_basebackup -R`, hard kill, promotion. The failover drill and the
 * fresh-cluster import test use it; nothing here touches the services' own PostgreSQL.
 *
 * PostgreSQL refuses to run as root, so as root every server command runs as the `postgres`
 * user (`runuser`), and the directories are handed to it.
 */
export class PostgresCluster {
  readonly directory: string;
  readonly port: number;

  private constructor(directory: string, port: number) {
    this.directory = directory;
    this.port = port;
  }

  /** A new cluster (`initdb`, trust on loopback, WAL for streaming), started. */
  static async initialize(options: { directory: string; port?: number }): Promise<PostgresCluster> {
    const port = options.port ?? (await freePort());
    await prepareDirectory(options.directory);
    const cluster = new PostgresCluster(options.directory, port);
    await asServerUser("initdb", [
      "-D",
      cluster.#dataDirectory,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
    ]);
    await appendFile(
      join(cluster.#dataDirectory, "postgresql.conf"),
      [
        "",
        "# PostgresCluster",
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        "unix_socket_directories = ''",
        "wal_level = replica",
        "max_wal_senders = 4",
        "wal_keep_size = '512MB'",
        "hot_standby = on",
        "max_connections = 100",
        "shared_buffers = '256MB'",
        "",
      ].join("\n"),
    );
    await appendFile(
      join(cluster.#dataDirectory, "pg_hba.conf"),
      "host replication all 127.0.0.1/32 trust\n",
    );
    await cluster.start();
    return cluster;
  }

  /**
   * A streaming replica of `primary` (`pg_basebackup -R -X stream`), started: it replays the
   * primary's WAL continuously and answers read-only queries until promoted. `streamFromPort`:
   * the standby streams through that port (a relay in front of the primary) instead of the
   * primary's own; the base backup is taken directly.
   */
  static async replicaOf(
    primary: PostgresCluster,
    options: { directory: string; port?: number; streamFromPort?: number },
  ): Promise<PostgresCluster> {
    const port = options.port ?? (await freePort());
    await prepareDirectory(options.directory);
    const replica = new PostgresCluster(options.directory, port);
    await asServerUser("pg_basebackup", [
      "-h",
      "127.0.0.1",
      "-p",
      String(primary.port),
      "-U",
      "postgres",
      "-D",
      replica.#dataDirectory,
      "-R",
      "-X",
      "stream",
      "--checkpoint=fast",
      `--dbname=application_name=${STANDBY_NAME}`,
    ]);
    const autoConf = join(replica.#dataDirectory, "postgresql.auto.conf");
    if (options.streamFromPort !== undefined) {
      const via = options.streamFromPort;
      const text = await readFile(autoConf, "utf8");
      const rewritten = text.replace(/^(primary_conninfo = '.*)\bport=\d+/m, `$1port=${via}`);
      if (rewritten === text) throw new Error(`no primary_conninfo port in ${autoConf} to point at ${via}`);
      await writeFile(autoConf, rewritten);
    }
    await appendFile(autoConf, `port = ${port}\n`);
    await replica.start();
    return replica;
  }

  /** The URL of a database on this cluster (as the `postgres` superuser, trusted on loopback). */
  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await asServerUser("pg_ctl", ["start", "-w", "-t", "60", "-D", this.#dataDirectory, "-l", this.#logFile]);
  }

  /**
   * Stops the server: `immediate` is the hard kill of a failover drill (no checkpoint, no
   * goodbye to the standby; what was not flushed to the WAL is gone), `fast` a clean stop.
   */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (!existsSync(join(this.#dataDirectory, "postmaster.pid"))) return;
    await asServerUser("pg_ctl", ["stop", "-w", "-t", "60", "-m", mode, "-D", this.#dataDirectory]);
  }

  /** Promotes a standby to a primary that accepts writes; resolves once it does. */
  async promote(): Promise<void> {
    await asServerUser("pg_ctl", ["promote", "-w", "-t", "60", "-D", this.#dataDirectory]);
  }

  /**
   * Makes commits wait for the standby's WAL flush (`synchronous`: an acknowledged commit is on
   * both) or not (`asynchronous`: the standby may lag; what it lacks at a failover is lost).
   */
  async setReplicationMode(mode: ReplicationMode): Promise<void> {
    await this.#withClient(async (client) => {
      await client.query(
        `alter system set synchronous_standby_names = '${mode === "synchronous" ? STANDBY_NAME : ""}'`,
      );
      await client.query("select pg_reload_conf()");
    });
  }

  /** Waits until the standby named in `synchronous_standby_names` is streaming in sync. */
  async waitForSynchronousStandby(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.#withClient(async (client) => {
        const result = await client.query<{ sync_state: string }>(
          "select sync_state from pg_stat_replication where application_name = $1",
          [STANDBY_NAME],
        );
        return result.rows[0]?.sync_state;
      });
      if (state === "sync") return;
      if (Date.now() > deadline)
        throw new Error(
          `standby ${STANDBY_NAME} not in sync after ${timeoutMs} ms (state ${state ?? "absent"})`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * How far the standby is behind this primary, in bytes of WAL: not yet flushed on the standby
   * (what an immediate kill loses in asynchronous mode) and not yet replayed; undefined when no
   * standby is connected.
   */
  async standbyLag(): Promise<{ flushBytes: number; replayBytes: number } | undefined> {
    return this.#withClient(async (client) => {
      const result = await client.query<{ flush_bytes: string | null; replay_bytes: string | null }>(
        `select pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) as flush_bytes,
                pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) as replay_bytes
           from pg_stat_replication where application_name = $1`,
        [STANDBY_NAME],
      );
      const row = result.rows[0];
      if (row === undefined) return undefined;
      return {
        flushBytes: Number(row.flush_bytes ?? Number.NaN),
        replayBytes: Number(row.replay_bytes ?? Number.NaN),
      };
    });
  }

  /** Waits until the standby has replayed everything this primary had written when called. */
  async waitForStandbyReplay(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const target = await this.#withClient(async (client) => {
      const result = await client.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
      return result.rows[0]?.lsn ?? "0/0";
    });
    for (;;) {
      const behind = await this.#withClient(async (client) => {
        const result = await client.query<{ behind: string | null }>(
          "select pg_wal_lsn_diff($1::pg_lsn, replay_lsn) as behind from pg_stat_replication where application_name = $2",
          [target, STANDBY_NAME],
        );
        return result.rows[0]?.behind;
      });
      if (behind !== undefined && behind !== null && Number(behind) <= 0) return;
      if (Date.now() > deadline)
        throw new Error(`standby ${STANDBY_NAME} has not replayed up to ${target} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Creates a database owned by the superuser, if missing. */
  async createDatabase(name: string): Promise<void> {
    await this.#withClient(async (client) => {
      const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
      if (exists.rowCount === 0) await client.query(`create database "${name}"`);
    });
  }

  /** Stops the server (immediately) and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => undefined);
    await rm(this.directory, { recursive: true, force: true });
  }

  /**
   * Stops whatever server runs in a cluster directory (immediately) and removes the directory:
   * the clean-up of a cluster whose creation may have been interrupted half-way.
   */
  static async destroyDirectory(directory: string): Promise<void> {
    const data = join(directory, "data");
    if (existsSync(join(data, "postmaster.pid"))) {
      await asServerUser("pg_ctl", ["stop", "-w", "-t", "60", "-m", "immediate", "-D", data]).catch(
        () => undefined,
      );
    }
    await rm(directory, { recursive: true, force: true });
  }

  get #dataDirectory(): string {
    return join(this.directory, "data");
  }

  get #logFile(): string {
    return join(this.directory, "server.log");
  }

  async #withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no loopback port");
  return address.port;
}

const runningAsRoot = process.getuid?.() === 0;

/** The cluster directory, its data directory empty, both the server user's (mode 700 as initdb wants). */
async function prepareDirectory(directory: string): Promise<void> {
  await mkdir(join(directory, "data"), { recursive: true });
  await chmod(directory, 0o755);
  await chmod(join(directory, "data"), 0o700);
  if (runningAsRoot) {
    // The server runs as postgres: it must be able to walk down to its directory.
    for (let current = dirname(directory); current !== dirname(current); current = dirname(current)) {
      if (((await stat(current)).mode & 0o001) === 0) {
        throw new Error(
          `the postgres user cannot enter ${current}, on the way to ${directory}: run "chmod o+x ${current}" or choose another directory`,
        );
      }
    }
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: group } = await run("id", ["-g", "postgres"]);
    const uid = Number(stdout.trim());
    const gid = Number(group.trim());
    await chown(directory, uid, gid);
    await chown(join(directory, "data"), uid, gid);
  }
}

/**
 * Runs a PostgreSQL server binary, as the `postgres` user when we are root; fails with the
 * command's own output (initdb and pg_ctl say clearly what went wrong).
 */
async function asServerUser(binary: string, args: readonly string[]): Promise<void> {
  const path = join(POSTGRES_BIN_DIRECTORY, binary);
  const [command, commandArgs] = runningAsRoot
    ? ["runuser", ["-u", "postgres", "--", path, ...args]]
    : [path, [...args]];
  await new Promise<void>((resolve, reject) => {
    // pg_ctl start leaves the server running with our stdio: give it none, keep only what it says.
    const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${binary} ${args.join(" ")} exited ${code}: ${output.trim()}`)),
    );
  });
}
