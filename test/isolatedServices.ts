import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import pg from "pg";
import { TEST_DATABASE_URL } from "./postgresTestDatabase.ts";

const exec = promisify(execFile);
const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** A database and a RabbitMQ virtual host of one's own on the shared servers. */
export interface IsolatedServices {
  /** DATABASE_URL and AMQP_URL pointing at them. */
  readonly env: { readonly DATABASE_URL: string; readonly AMQP_URL: string };
  /** Drops both; says what it could not drop (never throws). */
  drop(log: (message: string) => void): Promise<void>;
}

/**
 * Creates `tidemark_<purpose>_<random>` as a PostgreSQL database (the services script's role may
 * create databases) and as a RabbitMQ virtual host (with `rabbitmqctl`, as root on this machine),
 * so that a whole system can run beside other tests without seeing their events or queues.
 */
export async function createIsolatedServices(purpose: string): Promise<IsolatedServices> {
  const name = `tidemark_${purpose}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const vhost = await createIsolatedVirtualHost(name);
  const databaseUrl = new URL(TEST_DATABASE_URL);
  databaseUrl.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: databaseUrl.href, AMQP_URL: vhost.amqpUrl },
    async drop(log) {
      await vhost.drop(log);
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE_URL });
      try {
        await cleanup.connect();
        await cleanup.query(`drop database if exists ${name} with (force)`);
      } catch (error) {
        log(`database ${name} left behind: ${String(error)}`);
      } finally {
        await cleanup.end().catch(() => undefined);
      }
    },
  };
}

/** A RabbitMQ virtual host `name` for AMQP_URL's user, and how to drop it (never throws). */
export async function createIsolatedVirtualHost(
  name: string,
): Promise<{ readonly amqpUrl: string; drop(log: (message: string) => void): Promise<void> }> {
  const user = new URL(AMQP_URL).username || "guest";
  await rabbitmqctl(["-q", "add_vhost", name]);
  await rabbitmqctl(["-q", "set_permissions", "-p", name, user, ".*", ".*", ".*"]);
  const amqpUrl = new URL(AMQP_URL);
  amqpUrl.pathname = `/${name}`;
  return {
    amqpUrl: amqpUrl.href,
    async drop(log) {
      await exec("rabbitmqctl", ["-q", "delete_vhost", name]).catch((error: unknown) =>
        log(`virtual host ${name} left behind: ${String(error)}`),
      );
    },
  };
}

/**
 * `rabbitmqctl`, waiting for the broker when its app is stopped: the fan-out fault tests restart
 * it (stop_app, start_app) while other test files run beside them.
 */
async function rabbitmqctl(args: readonly string[]): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await exec("rabbitmqctl", [...args]);
      return;
    } catch (error) {
      const stopped = /requires the 'rabbit' app to be running/.test(
        String((error as { stderr?: unknown }).stderr),
      );
      if (!stopped || attempt === 5) throw error;
      await exec("rabbitmqctl", ["-q", "await_startup", "--timeout", "30"]).catch(() => undefined);
    }
  }
}
