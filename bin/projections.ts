import { parseArgs } from "node:util";
import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import {
  PostgresEventStore,
  describeLogAnomalies,
} from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { allProjections } from "../projections/allProjections.ts";
import type { AnyProjection } from "../projections/runtime/Projection.ts";
import {
  createRegistry,
  dropFailedBuilds,
  listBuilds,
  projectionSchemas,
  type ProjectionSchemas,
} from "../projections/runtime/ProjectionBuilds.ts";
import { liveBuildDigest } from "../projections/runtime/projectionDigest.ts";
import { currentBuilds } from "../projections/runtime/readModelStatus.ts";
import { rebuildProjections } from "../projections/runtime/rebuildProjections.ts";
import { RebuildProgress } from "../projections/runtime/RebuildProgress.ts";
import type { ProjectionProgress } from "../projections/runtime/runProjections.ts";
import { connectDatabase, openEventStoreDb, runCommandLine, UsageError } from "./commandLine.ts";
import { loadConfig, type Config } from "./loadConfig.ts";
import { textTable } from "./textTable.ts";

const USAGE = `Usage: npm run projections -- <command> [options]

Commands:
  list                       every projection: code version, live build and its version
  status                     live builds: checkpoint, lag (events, seconds), errors; builds in progress
  rebuild <name…> | --all    blue/green: build beside the live tables from position zero, catch up,
                             verify, swap atomically, drop the old (the query API answers throughout)
  verify <name…> | --all     deterministic digest of each live read model (equal content, equal digest)
  prune                      drop the tables of failed builds (kept after a failure for inspection);
                             their rows in the registry stay

Options:
  --json                     machine-readable output on stdout (no progress bar)
  --batch-size <n>           events per batch when rebuilding (default 100000; lower it to use
                             less memory, about 600 MB at the default)
  -h, --help                 this text

Connects to DATABASE_URL, or to the embedded PostgreSQL of a running \`npm start\`.
Exit status: 0 done, 1 a projection failed or differs, 2 bad usage or nothing to connect to.`;

/** What the CLI was asked, after parsing. */
interface Invocation {
  readonly command: "list" | "status" | "rebuild" | "verify" | "prune";
  readonly projections: readonly AnyProjection[];
  readonly json: boolean;
  readonly batchSize: number;
}

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      all: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "batch-size": { type: "string", default: "100000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...names] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (
    command !== "list" &&
    command !== "status" &&
    command !== "rebuild" &&
    command !== "verify" &&
    command !== "prune"
  ) {
    throw new UsageError(`unknown command "${command}"`);
  }
  const batchSize = Number(values["batch-size"]);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
    throw new UsageError("--batch-size must be a whole number from 1 to 1000000");
  }
  let projections: readonly AnyProjection[] = allProjections;
  if (command === "rebuild" || command === "verify") {
    if (values.all && names.length > 0) throw new UsageError(`${command}: give names or --all, not both`);
    if (!values.all && names.length === 0)
      throw new UsageError(`${command}: name a projection or give --all`);
    if (!values.all) {
      projections = names.map((name) => {
        const found = allProjections.find((projection) => projection.name === name);
        if (found === undefined) {
          throw new UsageError(
            `no projection "${name}"; there are: ${allProjections.map((p) => p.name).join(", ")}`,
          );
        }
        return found;
      });
    }
  } else if (names.length > 0 || values.all) {
    throw new UsageError(`${command} takes no names`);
  }
  return { command, projections, json: values.json, batchSize };
}

async function run(invocation: Invocation, config: Config): Promise<number> {
  const pool = await connectDatabase("projections", config, 2 * invocation.projections.length + 4);
  if (pool === undefined) return 2;
  // A store written by an older version reads only once migrated (migrations are idempotent).
  if (config.eventStore.kind === "postgres") await PostgresEventStore.migrate(pool);
  const store: EventStore =
    config.eventStore.kind === "eventstoredb"
      ? await openEventStoreDb(config.eventStore.url)
      : new PostgresEventStore(pool);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const schemas = projectionSchemas(config.schemaPrefix);
  const controller = new AbortController();
  process.once("SIGINT", () => {
    console.error("\nprojections: stopping (the live read models are untouched)…");
    controller.abort();
  });
  try {
    await createRegistry(db, schemas);
    switch (invocation.command) {
      case "list":
        return await list(db, schemas, invocation);
      case "status":
        return await status(db, store, schemas, invocation, pool);
      case "rebuild":
        return await rebuild(pool, db, store, schemas, invocation, controller.signal);
      case "verify":
        return await verify(db, schemas, invocation);
      case "prune":
        return await prune(db, schemas, invocation);
    }
  } finally {
    await store.close();
    await pool.end();
  }
}

async function prune(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  invocation: Invocation,
): Promise<number> {
  const dropped = await dropFailedBuilds(db, schemas);
  if (invocation.json) console.log(JSON.stringify({ dropped }, null, 2));
  else if (dropped.length === 0) console.log("no failed build has tables left");
  else for (const schema of dropped) console.log(`dropped ${schema}`);
  return 0;
}

async function list(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  invocation: Invocation,
): Promise<number> {
  const builds = await listBuilds(db, schemas);
  const rows = allProjections.map((projection) => {
    const live = builds.find((build) => build.name === projection.name && build.status === "live");
    return {
      name: projection.name,
      codeVersion: projection.version,
      liveBuild: live?.buildSchema ?? null,
      liveVersion: live?.version ?? null,
      tables: projection.tables,
    };
  });
  if (invocation.json) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    printTable(
      ["projection", "code version", "live build", "live version", "tables"],
      rows.map((row) => [
        row.name,
        String(row.codeVersion),
        row.liveBuild ?? "(none yet)",
        String(row.liveVersion ?? "-"),
        row.tables.join(" "),
      ]),
    );
  }
  return 0;
}

async function status(
  db: Kysely<unknown>,
  store: EventStore,
  schemas: ProjectionSchemas,
  invocation: Invocation,
  pool: pg.Pool,
): Promise<number> {
  const anomalies =
    store instanceof PostgresEventStore ? await PostgresEventStore.logAnomalies(pool) : undefined;
  const warning = anomalies === undefined ? undefined : describeLogAnomalies(anomalies);
  if (warning !== undefined) console.error(`projections: warning: ${warning}`);
  const rows = await currentBuilds(db, store, schemas);
  if (invocation.json) {
    console.log(
      JSON.stringify(anomalies === undefined ? rows : { builds: rows, logAnomalies: anomalies }, null, 2),
    );
  } else if (rows.length === 0) {
    console.log("No builds yet: the projector creates them when it starts (npm start).");
  } else {
    printTable(
      ["projection", "version", "status", "build", "checkpoint", "lag events", "lag s", "updated", "error"],
      rows.map((row) => [
        row.name,
        String(row.version),
        row.status,
        row.buildSchema,
        row.position,
        row.lagEvents === null ? "?" : String(row.lagEvents),
        row.lagSeconds === null ? "?" : row.lagSeconds.toFixed(1),
        row.updatedAt.toISOString(),
        row.error ?? "",
      ]),
    );
  }
  return rows.some((row) => row.error !== null) ? 1 : 0;
}

async function rebuild(
  pool: pg.Pool,
  db: Kysely<unknown>,
  store: EventStore,
  schemas: ProjectionSchemas,
  invocation: Invocation,
  signal: AbortSignal,
): Promise<number> {
  const progress = new ProgressReporter(await RebuildProgress.counting(store), !invocation.json);
  const startedAt = Date.now();
  const results = await rebuildProjections({
    pool,
    db,
    store,
    schemas,
    projections: invocation.projections,
    signal,
    batchSize: invocation.batchSize,
    onProgress: (update) => progress.update(update),
    onStep: (projection, step) => progress.say(`${projection}: ${step}`),
  });
  progress.done();
  const seconds = (Date.now() - startedAt) / 1000;
  const read = progress.read;
  if (invocation.json) {
    console.log(
      JSON.stringify(
        { seconds, eventsRead: read, eventsPerSecond: Math.round(read / seconds), results },
        null,
        2,
      ),
    );
  } else {
    for (const result of results) {
      if (result.outcome === "swapped") {
        console.log(
          `${result.projection}: live ${result.buildSchema} at ${result.position}, digest ${result.digest.digest} ` +
            `(${Object.entries(result.digest.rows)
              .map(([table, rows]) => `${table} ${rows}`)
              .join(", ")})` +
            (result.verifiedAgainstLive
              ? `, equal to the replaced ${result.replaced ?? ""}`
              : result.replaced === null
                ? ""
                : `, replaced ${result.replaced} (other version: not compared)`),
        );
      } else if (result.outcome === "failed") {
        console.log(`${result.projection}: FAILED — ${result.error} (the live build is untouched)`);
      } else {
        console.log(`${result.projection}: stopped before the swap (the live build is untouched)`);
      }
    }
    console.log(
      `${read.toLocaleString("en")} events in ${seconds.toFixed(1)} s: ${Math.round(read / seconds).toLocaleString("en")} events/s`,
    );
  }
  return results.every((result) => result.outcome === "swapped") ? 0 : 1;
}

async function verify(
  db: Kysely<unknown>,
  schemas: ProjectionSchemas,
  invocation: Invocation,
): Promise<number> {
  const results = [];
  for (const projection of invocation.projections) {
    // One snapshot: the checkpoint and every table as of the same moment.
    const live = await liveBuildDigest(db, schemas, projection);
    const result =
      live === undefined
        ? { projection: projection.name, error: "no live build" }
        : live.version !== projection.version
          ? {
              projection: projection.name,
              error: `live build is version ${live.version}, this code has ${projection.version}`,
            }
          : {
              projection: projection.name,
              build: live.build,
              position: live.position,
              digest: live.digest,
              rows: live.rows,
            };
    results.push(result);
  }
  if (invocation.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    for (const result of results) {
      console.log(
        "error" in result
          ? `${result.projection}: ${result.error}`
          : `${result.projection} ${result.digest} at ${result.position} (${Object.entries(result.rows)
              .map(([table, rows]) => `${table} ${rows}`)
              .join(", ")})`,
      );
    }
  }
  return results.some((result) => "error" in result) ? 1 : 0;
}

/** A progress bar with events/s and ETA on a terminal; a line every 5 s otherwise; nothing for --json. */
class ProgressReporter {
  readonly #progress: RebuildProgress;
  readonly #enabled: boolean;
  readonly #tty = process.stderr.isTTY;
  #lastDrawn = 0;

  constructor(progress: RebuildProgress, enabled: boolean) {
    this.#progress = progress;
    this.#enabled = enabled;
  }

  get read(): number {
    return this.#progress.read;
  }

  update(update: ProjectionProgress): void {
    this.#progress.update(update);
    const now = Date.now();
    if (!this.#enabled || now - this.#lastDrawn < (this.#tty ? 200 : 5000)) return;
    this.#lastDrawn = now;
    const { read, total, fraction } = this.#progress;
    const secondsLeft = this.#progress.secondsLeft(now);
    const eta = secondsLeft === undefined ? "?" : formatDuration(secondsLeft);
    const bar =
      fraction === undefined
        ? ""
        : `[${"#".repeat(Math.round(fraction * 30)).padEnd(30, "-")}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
    const line = `${bar}${read.toLocaleString("en")}${total === undefined ? "" : `/${total.toLocaleString("en")}`} events  ${Math.round(this.#progress.eventsPerSecond(now)).toLocaleString("en")} events/s  ETA ${eta}`;
    if (this.#tty) process.stderr.write(`\r${line}\u001b[K`);
    else process.stderr.write(`${line}\n`);
  }

  say(message: string): void {
    if (!this.#enabled) return;
    process.stderr.write(`${this.#tty ? "\r\u001b[K" : ""}${message}\n`);
  }

  done(): void {
    if (this.#enabled && this.#tty) process.stderr.write("\r\u001b[K");
  }
}

function formatDuration(seconds: number): string {
  const whole = Math.ceil(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  for (const line of textTable(headers, rows)) console.log(line);
}

await runCommandLine({
  name: "projections",
  usage: USAGE,
  parse: parseInvocation,
  configure: () => loadConfig(process.env, { requireApiKeys: false }),
  run,
});
