import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import pg from "pg";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { embeddedDatabaseUrl } from "./embeddedDatabaseUrl.ts";
import { ConfigError, type Config } from "./loadConfig.ts";

/** What the CLIs share: how one runs, bad usage, where the database is, and what to say when it does not answer. */

/**
 * A command-line program: its arguments parsed, its configuration read, then `run`, whose answer
 * is the exit status. Bad usage (arguments or configuration) prints the message and the usage on
 * stderr and exits 2; `--help` prints the usage on stdout and exits 0.
 */
export interface CommandLineProgram<Invocation, Configuration> {
  /** What its messages start with, e.g. `projections`. */
  readonly name: string;
  readonly usage: string;
  /** The arguments after the program's own; throws UsageError (or parseArgs's errors) for bad usage. */
  parse(argv: readonly string[]): Invocation | "help";
  /** Read after the arguments, even for `--help`, so that a bad variable is said at once. */
  configure(invocation: Invocation | "help"): Configuration;
  run(invocation: Invocation, configuration: Configuration): Promise<number>;
}

/** Runs `program` on this process's arguments and sets the exit status it answers. */
export async function runCommandLine<Invocation, Configuration>(
  program: CommandLineProgram<Invocation, Configuration>,
): Promise<void> {
  process.exitCode = await exitStatusOf(program, process.argv.slice(2));
}

async function exitStatusOf<Invocation, Configuration>(
  program: CommandLineProgram<Invocation, Configuration>,
  argv: readonly string[],
): Promise<number> {
  let invocation;
  let configuration;
  try {
    invocation = program.parse(argv);
    configuration = program.configure(invocation);
  } catch (error) {
    if (isUsageProblem(error)) {
      console.error(`${program.name}: ${error.message}\n\n${program.usage}`);
      return 2;
    }
    throw error;
  }
  if (invocation === "help") {
    console.log(program.usage);
    return 0;
  }
  return program.run(invocation, configuration);
}

/** A command line that asks for something the CLI cannot do; it prints the usage and exits 2. */
export class UsageError extends Error {}

/** Whether `error` is the user's to fix on the command line or in the environment (exit 2). */
export function isUsageProblem(error: unknown): error is Error {
  return (
    error instanceof UsageError ||
    error instanceof ConfigError ||
    ((error as { code?: unknown } | null)?.code as string | undefined)?.startsWith("ERR_PARSE_ARGS") === true
  );
}

/** DATABASE_URL, or the embedded PostgreSQL of a running `npm start`. */
export function databaseUrlOf(config: Config): string {
  return config.database.kind === "external"
    ? config.database.url
    : embeddedDatabaseUrl(config.database.port);
}

/**
 * A pool on the CLI's database (`databaseUrlOf`), once it has answered a query. When it does not
 * answer: one line on stderr saying why and what to do, the pool closed, `undefined` (exit 2).
 */
export async function connectDatabase(
  name: string,
  config: Config,
  max: number,
): Promise<pg.Pool | undefined> {
  const pool = new pg.Pool({ connectionString: databaseUrlOf(config), max });
  pool.on("error", () => undefined);
  try {
    await pool.query("select 1");
    return pool;
  } catch (error) {
    console.error(`${name}: ${unreachableDatabase(config, error)}`);
    await pool.end();
    return undefined;
  }
}

/** One line: why the database did not answer and what to do about it. */
export function unreachableDatabase(config: Config, error: unknown): string {
  return (
    `cannot reach PostgreSQL (${error instanceof Error ? error.message : String(error)}). ` +
    (config.database.kind === "embedded"
      ? "Start the system first (npm start) or set DATABASE_URL."
      : "Check DATABASE_URL.")
  );
}

/**
 * EventStoreDB's event store at `url` (EVENT_STORE=eventstoredb). Its gRPC client is imported
 * here, only when configured: loading it took a good part of every CLI's start.
 */
/** The event store the config names: EventStoreDB, or PostgreSQL on `pool` (migrated first). */
export async function openEventStore(config: Config, pool: pg.Pool): Promise<EventStore> {
  if (config.eventStore.kind === "eventstoredb") return openEventStoreDb(config.eventStore.url);
  await PostgresEventStore.migrate(pool);
  return new PostgresEventStore(pool);
}

export async function openEventStoreDb(url: string): Promise<EventStore> {
  const [{ EventStoreDBClient }, { EventStoreDbEventStore }] = await Promise.all([
    import("@eventstore/db-client"),
    import("../gateways/eventStore/eventStoreDb/EventStoreDbEventStore.ts"),
  ]);
  return new EventStoreDbEventStore(EventStoreDBClient.connectionString(url));
}

/** Whether a command-line argument is a UUID (an event id, a batch id), in either case. */
export function isUuid(text: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
}
