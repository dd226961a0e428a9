import { parseArgs } from "node:util";
import type pg from "pg";
import { ArchiveError } from "../gateways/eventLogArchive/ArchiveManifest.ts";
import { checkArchive } from "../gateways/eventLogArchive/checkArchive.ts";
import { exportEventLog } from "../gateways/eventLogArchive/exportEventLog.ts";
import { ImportRefusedError, importEventLog } from "../gateways/eventLogArchive/importEventLog.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { connectDatabase, openEventStoreDb, runCommandLine, UsageError } from "./commandLine.ts";
import { ProgressLine } from "./ProgressLine.ts";
import { loadConfig, type Config } from "./loadConfig.ts";

const USAGE = `Usage: npm run event-log -- <command> <directory> [options]

Commands:
  export <directory>   the whole log, in order, as gzip'd NDJSON files with a checksum each and a
                       manifest.json; an export stopped half-way is resumed by running it again
  import <directory>   into an empty PostgreSQL event store, keeping every position; the whole
                       archive is checked first (nothing is written from a damaged one); a stopped
                       import resumes from the next file
  verify <directory>   reads an archive through and checks every file, line and stream

Options:
  --events-per-file <n>  export: events per file (default 100000)
  --schema <name>        the PostgreSQL event store's schema (default tidemark)
  --allow-inversions     import, verify: accept streams whose revisions are all there but not in
                         revision order in the log (written by a version before the store's
                         migration 0004); the import keeps the order the log had and records each
                         inversion (\`projections status\` reports them)
  --allow-duplicate-ids  import: accept an archive in which an event id stands twice (written
                         before migration 0004), keeping both (recorded like inversions)
  --json                 machine-readable result on stdout (no progress)
  -h, --help             this text

Connects to DATABASE_URL (or EVENTSTORE_URL with EVENT_STORE=eventstoredb, export only), or to
the embedded PostgreSQL of a running \`npm start\`. After an import, build the read models:
npm run projections -- rebuild --all
Exit status: 0 done, 1 failed (damaged archive, refused import), 2 bad usage or nothing to connect to.`;

interface Invocation {
  readonly command: "export" | "import" | "verify";
  readonly directory: string;
  readonly eventsPerFile: number;
  readonly schema: string;
  readonly allowInversions: boolean;
  readonly allowDuplicateIds: boolean;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "events-per-file": { type: "string", default: "100000" },
      schema: { type: "string", default: "tidemark" },
      "allow-inversions": { type: "boolean", default: false },
      "allow-duplicate-ids": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, directory, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (command !== "export" && command !== "import" && command !== "verify") {
    throw new UsageError(`unknown command "${command}"`);
  }
  if (directory === undefined) throw new UsageError(`${command}: name the archive directory`);
  if (rest.length > 0) throw new UsageError(`${command} takes one directory, not ${rest.length + 1}`);
  const eventsPerFile = Number(values["events-per-file"]);
  if (!Number.isSafeInteger(eventsPerFile) || eventsPerFile < 1) {
    throw new UsageError("--events-per-file must be a whole number ≥ 1");
  }
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(values.schema)) {
    throw new UsageError("--schema must be a lower-case PostgreSQL name (letters, digits, _)");
  }
  return {
    command,
    directory,
    eventsPerFile,
    schema: values.schema,
    allowInversions: values["allow-inversions"],
    allowDuplicateIds: values["allow-duplicate-ids"],
    json: values.json,
  };
}

async function run(invocation: Invocation, config: Config): Promise<number> {
  if (invocation.command === "verify") return verify(invocation);
  if (invocation.command === "import" && config.eventStore.kind !== "postgres") {
    console.error("event-log: import writes into the PostgreSQL event store; unset EVENT_STORE=eventstoredb");
    return 2;
  }
  const pool = await connectDatabase("event-log", config, 4);
  if (pool === undefined) return 2;
  try {
    return invocation.command === "export"
      ? await exportLog(invocation, config, pool)
      : await importLog(invocation, pool);
  } catch (error) {
    if (error instanceof ArchiveError || error instanceof ImportRefusedError) {
      console.error(`event-log: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await pool.end();
  }
}

async function exportLog(invocation: Invocation, config: Config, pool: pg.Pool): Promise<number> {
  // A store written by an older version reads only once migrated (migrations are idempotent).
  if (config.eventStore.kind === "postgres") await PostgresEventStore.migrate(pool, invocation.schema);
  const store: EventStore =
    config.eventStore.kind === "eventstoredb"
      ? await openEventStoreDb(config.eventStore.url)
      : new PostgresEventStore(pool, { schema: invocation.schema });
  const stop = new AbortController();
  process.once("SIGINT", () => {
    console.error("\nevent-log: stopping; run the same export again to resume it");
    stop.abort();
  });
  const progress = new ProgressLine(!invocation.json);
  const started = performance.now();
  try {
    const manifest = await exportEventLog({
      store,
      directory: invocation.directory,
      eventsPerFile: invocation.eventsPerFile,
      signal: stop.signal,
      onProgress: (update) =>
        progress.show(
          `export: ${update.events.toLocaleString("en")} events, ${update.files} files${update.resumed ? " (resumed)" : ""}`,
          update.events,
        ),
    });
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    if (invocation.json) console.log(JSON.stringify({ ...manifest, seconds }));
    else if (manifest.complete) {
      console.log(
        `exported ${manifest.events.toLocaleString("en")} events in ${manifest.files.length} files to ${invocation.directory} ` +
          `(${seconds.toFixed(1)} s; checksums in manifest.json and SHA256SUMS)`,
      );
    } else console.log(`stopped after ${manifest.files.length} whole files; run it again to resume`);
    return manifest.complete ? 0 : 1;
  } finally {
    await store.close();
  }
}

async function importLog(invocation: Invocation, pool: pg.Pool): Promise<number> {
  const progress = new ProgressLine(!invocation.json);
  const started = performance.now();
  const result = await importEventLog({
    pool,
    schema: invocation.schema,
    directory: invocation.directory,
    allowRevisionInversions: invocation.allowInversions,
    allowDuplicateEventIds: invocation.allowDuplicateIds,
    onProgress: (update) =>
      progress.show(
        `import: ${update.phase} ${update.events.toLocaleString("en")} / ${update.total.toLocaleString("en")} events`,
        update.events,
      ),
  });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  if (invocation.json) console.log(JSON.stringify({ ...result, seconds }));
  else {
    console.log(
      `imported ${result.events.toLocaleString("en")} events of ${result.streams.toLocaleString("en")} streams ` +
        `from ${result.files} files${result.skippedFiles > 0 ? ` (${result.skippedFiles} already there)` : ""} in ${seconds.toFixed(1)} s; ` +
        (result.inversions > 0
          ? `${result.inversions} events kept before an earlier revision of their stream, as the log had them (recorded in log_anomalies); `
          : "") +
        "now build the read models: npm run projections -- rebuild --all",
    );
  }
  return 0;
}

async function verify(invocation: Invocation): Promise<number> {
  const progress = new ProgressLine(!invocation.json);
  try {
    const checked = await checkArchive(invocation.directory, {
      onProgress: (events) => progress.show(`verify: ${events.toLocaleString("en")} events`, events),
      allowRevisionInversions: invocation.allowInversions,
    });
    progress.done();
    const { manifest } = checked;
    if (invocation.json)
      console.log(
        JSON.stringify({
          ok: true,
          events: manifest.events,
          streams: checked.streams,
          inversions: checked.inversions,
          inversionExamples: checked.inversionExamples,
        }),
      );
    else {
      console.log(
        `archive ${manifest.archiveId}: ${manifest.events.toLocaleString("en")} events of ${checked.streams.toLocaleString("en")} streams in ${manifest.files.length} files, ` +
          (checked.inversions === 0
            ? "every checksum and revision in order"
            : `every checksum right and every revision there once; ${checked.inversions} come before an earlier revision of their stream (${checked.inversionExamples.join("; ")}), and an import with --allow-inversions keeps them so`),
      );
    }
    return 0;
  } catch (error) {
    progress.done();
    if (!(error instanceof ArchiveError)) throw error;
    if (invocation.json) console.log(JSON.stringify({ ok: false, error: error.message }));
    console.error(`event-log: ${error.message}`);
    return 1;
  }
}

await runCommandLine({
  name: "event-log",
  usage: USAGE,
  parse: parseInvocation,
  configure: () => loadConfig(process.env, { requireApiKeys: false }),
  run,
});
