import type { Redis } from "ioredis";
import type pg from "pg";
import type { Logger } from "pino";
import type { LiveRules } from "../../commands/rules/LiveRules.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { Metrics } from "../../gateways/observability/Metrics.ts";
import type { ProjectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";
import type { Config } from "../loadConfig.ts";

/** Something to do on the way out; `stops` runs them first to last (what started last goes first). */
export type Stop = () => Promise<void>;

/**
 * What `main` builds once and every role's composition root shares: the clients (one pool, one
 * event store, one Redis client, one metrics registry, one logger) and where a role leaves its
 * stops and the addresses it reports.
 */
export interface SystemContext {
  readonly config: Config;
  /** The rule set in force, followed from its stream. */
  readonly rules: LiveRules;
  /** The shared pool; a role that needs its own sizing opens one with `openPool`. */
  readonly pool: pg.Pool;
  /** The PostgreSQL the pools connect to (a backtest's threads open their own connections). */
  readonly databaseUrl: string;
  readonly openPool: (max: number) => pg.Pool;
  readonly store: EventStore;
  /** For the lag gauges, which count events in PostgreSQL. */
  readonly unmeasuredStore: EventStore;
  readonly schemas: ProjectionSchemas;
  readonly metrics: Metrics;
  /** With REDIS_URL: the one client, stopped by `main` after the roles. */
  readonly redis: Redis | undefined;
  readonly logger: Logger;
  /** A role adds its stops with `unshift`, so that it stops before what started before it. */
  readonly stops: Stop[];
  readonly urls: Record<string, string>;
}
