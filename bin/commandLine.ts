import { embeddedDatabaseUrl } from "./embeddedDatabaseUrl.ts";
import { ConfigError, type Config } from "./loadConfig.ts";

/** What the CLIs share: bad usage, where the database is, and what to say when it does not answer. */

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

/** One line: why the database did not answer and what to do about it. */
export function unreachableDatabase(config: Config, error: unknown): string {
  return (
    `cannot reach PostgreSQL (${error instanceof Error ? error.message : String(error)}). ` +
    (config.database.kind === "embedded"
      ? "Start the system first (npm start) or set DATABASE_URL."
      : "Check DATABASE_URL.")
  );
}
