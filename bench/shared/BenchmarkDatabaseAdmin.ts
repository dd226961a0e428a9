import pg from "pg";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import type { EventStoreBenchmarkConfig } from "../eventstore/EventStoreBenchmarkConfig.ts";

/** The server facts a report should carry. */
export interface ServerDescription {
  readonly version: string;
  readonly settings: Readonly<Record<string, string>>;
}

const REPORTED_SETTINGS = ["shared_buffers", "synchronous_commit", "max_connections", "wal_level"] as const;

/**
 * Empties each system's storage before a measurement, so every run starts from the same empty
 * store: Tidemark's schema is dropped (the store migrates it again), Emmett's database is dropped
 * and created again (its tables have fixed names, so it cannot share a database), and pgbench's
 * table is recreated.
 */
export class BenchmarkDatabaseAdmin {
  readonly #client: pg.Client;

  private constructor(
    client: pg.Client,
    private readonly config: EventStoreBenchmarkConfig,
  ) {
    this.#client = client;
  }

  /** @throws Error naming the URL when PostgreSQL cannot be reached. */
  static async connect(config: EventStoreBenchmarkConfig): Promise<BenchmarkDatabaseAdmin> {
    const client = new pg.Client({ connectionString: config.databaseUrl });
    try {
      await client.connect();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot connect to PostgreSQL at ${redacted(config.databaseUrl)}: ${reason}`, {
        cause: error,
      });
    }
    return new BenchmarkDatabaseAdmin(client, config);
  }

  async describeServer(): Promise<ServerDescription> {
    const { rows } = await this.#client.query<{ version: string }>("select version()");
    const settings: Record<string, string> = {};
    for (const name of REPORTED_SETTINGS) {
      const result = await this.#client.query<{ setting: string }>("select current_setting($1) as setting", [
        name,
      ]);
      settings[name] = result.rows[0]?.setting ?? "?";
    }
    return { version: rows[0]?.version ?? "unknown", settings };
  }

  async resetTidemark(): Promise<void> {
    await this.#client.query(`drop schema if exists "${this.config.tidemark.schema}" cascade`);
  }

  async resetEmmett(): Promise<void> {
    const database = this.config.emmett.database;
    // `with (force)` ends connections a failed earlier run may have left behind.
    await this.#client.query(`drop database if exists "${database}" with (force)`);
    await this.#client.query(`create database "${database}"`);
  }

  async resetRaw(): Promise<void> {
    const table = this.config.raw.table;
    await this.#client.query(`drop table if exists "${table}"`);
    await this.#client.query(`create table "${table}" (id bigserial primary key, data jsonb not null)`);
  }

  /**
   * A fresh store schema for pgbench to write Tidemark's rows into, and the sequence its scripts
   * draw each event's revision and (time-ordered, like Tidemark's UUIDv7) id from.
   */
  async resetRows(): Promise<void> {
    const schema = this.config.rows.schema;
    await this.#client.query(`drop schema if exists "${schema}" cascade`);
    const pool = new pg.Pool({ connectionString: this.config.databaseUrl, max: 1 });
    try {
      await PostgresEventStore.migrate(pool, schema);
    } finally {
      await pool.end();
    }
    await this.#client.query(`create sequence "${schema}".event_numbers`);
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}

/** The URL without its password, for messages. */
function redacted(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable URL)";
  }
}
