import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type pg from "pg";
import { BalanceImports, type BalanceImport } from "../commands/balances/BalanceImports.ts";
import { BalanceFileError } from "../commands/balances/BalanceFileRow.ts";
import { BALANCE_FILE_FORMATS, type BalanceFileFormat } from "../commands/balances/balanceFileRows.ts";
import { digestOf, formatOfFileName, importBalanceFile } from "../commands/balances/importBalanceFile.ts";
import { DEFAULT_IMPORT_CONCURRENCY } from "../commands/balances/importBalanceRows.ts";
import { LiveRules } from "../commands/rules/LiveRules.ts";
import { createLogger } from "../gateways/observability/createLogger.ts";
import { projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { connectDatabase, isUuid, openEventStore, runCommandLine, UsageError } from "./commandLine.ts";
import { loadConfig, type Config } from "./loadConfig.ts";
import { ProgressLine } from "./ProgressLine.ts";
import { textTable } from "./textTable.ts";

const USAGE = `Usage: npm run balances -- <command> [options]

Commands:
  import <file>            record every balance of an end-of-day file, each as a push is recorded
                           (the same checks; the rules evaluated); bad rows are listed with their
                           line and reason and do not stop the file. The file is one batch, named
                           by its SHA-256: the same file again does nothing; an import that stopped
                           part-way resumes after its last committed row.
  status <batch id>        how an import stands: counts, committed row, bad rows
  list                     the latest imports, newest first

Files: NDJSON, one object per line:
  {"accountId":"acc-1","amount":"42.00","currency":"GBP","balanceType":"ClosingBooked","referenceTime":"2026-12-06T23:59:59Z"}
or CSV with a header: accountId,amount,currency,balanceType,referenceTime[,bankReference][,creditLineIncluded]
or an ISO 20022 camt.053 statement / camt.052 report (.xml): each opening, interim or closing balance
(Bal) of each statement, its account the IBAN or Othr/Id; a date alone stands for the start of that
day (opening) or its end, no later than the report's creation (the others).
Any of them may be gzipped. The format is read from the name (.ndjson, .jsonl, .csv, .xml, with .gz or not).

Options:
  --format ndjson|csv|camt the format, whatever the name says
  --concurrency <n>        rows decided at once (default 1024; one account's rows always in order)
  --as <name>              who sends it, recorded on the batch and its events (default: the OS user)
  --json                   machine-readable output on stdout
  -h, --help               this text

The event log is the one in DATABASE_URL (or the embedded PostgreSQL of a running npm start), or
EventStoreDB with EVENT_STORE=eventstoredb; the batches are kept in <TIDEMARK_SCHEMA_PREFIX>_projections.
Progress goes to stderr.
Exit status: 0 every row recorded, 1 the file imported with bad rows (or not imported: another
process is importing it, it cannot be read), 2 bad usage or nothing to connect to.`;

type Invocation =
  | {
      readonly command: "import";
      readonly file: string;
      readonly format: BalanceFileFormat;
      readonly concurrency: number;
      readonly as: string;
      readonly json: boolean;
    }
  | { readonly command: "status"; readonly batchId: string; readonly json: boolean }
  | { readonly command: "list"; readonly json: boolean };

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      format: { type: "string" },
      concurrency: { type: "string", default: String(DEFAULT_IMPORT_CONCURRENCY) },
      as: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (command === "list") {
    if (rest.length > 0) throw new UsageError(`list takes no arguments (got ${rest.join(" ")})`);
    return { command, json: values.json };
  }
  const [argument, ...extra] = rest;
  if (extra.length > 0) throw new UsageError(`${command}: one argument only (got ${rest.join(" ")})`);
  if (command === "status") {
    if (argument === undefined || !isUuid(argument))
      throw new UsageError("status: name the batch id (a UUID)");
    return { command, batchId: argument.toLowerCase(), json: values.json };
  }
  if (command === "import") {
    if (argument === undefined) throw new UsageError("import: name the file");
    const format = values.format ?? formatOfFileName(argument);
    if (format === undefined) {
      throw new UsageError(
        `import: say the file's format with --format (${BALANCE_FILE_FORMATS.join(" or ")})`,
      );
    }
    if (!(BALANCE_FILE_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`--format takes ${BALANCE_FILE_FORMATS.join(" or ")}`);
    }
    const concurrency = Number(values.concurrency);
    if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
      throw new UsageError("--concurrency takes a whole number from 1 to 1024");
    }
    const as = values.as?.trim() || os.userInfo().username;
    return {
      command,
      file: argument,
      format: format as BalanceFileFormat,
      concurrency,
      as,
      json: values.json,
    };
  }
  throw new UsageError(`unknown command "${command}"`);
}

async function run(invocation: Invocation, config: Config): Promise<number> {
  const pool = await connectDatabase("balances", config, invocation.command === "import" ? 40 : 2);
  if (pool === undefined) return 2;
  const imports = new BalanceImports(pool, projectionSchemas(config.schemaPrefix).runtime);
  try {
    await imports.migrate();
    switch (invocation.command) {
      case "list":
        return printList(await imports.list(50), invocation.json);
      case "status": {
        const batch = await imports.find(invocation.batchId);
        if (batch === undefined) {
          console.error(`balances: no import ${invocation.batchId}`);
          return 1;
        }
        return printBatch(batch, invocation.json);
      }
      case "import":
        return await importFile(invocation, config, pool, imports);
    }
  } finally {
    await pool.end();
  }
}

async function importFile(
  invocation: Extract<Invocation, { command: "import" }>,
  config: Config,
  pool: pg.Pool,
  imports: BalanceImports,
): Promise<number> {
  const size = await stat(invocation.file).catch(() => undefined);
  if (size?.isFile() !== true) {
    console.error(`balances: no file ${invocation.file}`);
    return 2;
  }
  const store = await openEventStore(config, pool);
  const rules = await LiveRules.start(store, {
    pollMs: 500,
    logger: createLogger({ level: "silent", base: {} }),
  });
  const progress = new ProgressLine(true);
  const stop = new AbortController();
  const interrupted = () =>
    stop.abort(new Error("interrupted (Ctrl-C): run the same import again to resume"));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const open = () => createReadStream(invocation.file, { highWaterMark: 256 * 1024 });
    const result = await importBalanceFile({
      imports,
      store,
      rules,
      bounds: config.referenceTimeBounds,
      clock: Date.now,
      file: {
        name: path.basename(invocation.file),
        digest: await digestOf(open()),
        format: invocation.format,
        open,
      },
      requestedBy: invocation.as,
      concurrency: invocation.concurrency,
      onProgress: (row, counts) =>
        progress.show(
          `balances: row ${row}: ${counts.recorded} recorded, ${counts.refused + counts.invalid} bad`,
          row,
        ),
      signal: stop.signal,
    });
    progress.done();
    if (result.outcome === "busy") {
      console.error(`balances: another process is importing this file (batch ${result.batch.batchId})`);
      return 1;
    }
    if (result.outcome === "already_imported" && !invocation.json) {
      console.error(`balances: this file was imported before (batch ${result.batch.batchId}); nothing done`);
    }
    printBatch(result.batch, invocation.json);
    const bad = result.batch.counts.refused + result.batch.counts.invalid;
    return bad > 0 ? 1 : 0;
  } catch (error) {
    progress.done();
    if (error instanceof BalanceFileError || stop.signal.aborted) {
      console.error(`balances: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    rules.stop();
    await store.close();
  }
}

function printBatch(batch: BalanceImport, json: boolean): number {
  if (json) {
    console.log(JSON.stringify(batch, null, 2));
    return 0;
  }
  const { counts } = batch;
  console.log(`Import ${batch.batchId}: ${batch.fileName} (${batch.format}), ${batch.status}`);
  console.log(
    `  sent by ${batch.requestedBy}, started ${batch.startedAt}, committed up to row ${batch.committedRow}`,
  );
  console.log(
    `  ${counts.rows} rows: ${counts.recorded} recorded, ${counts.unchanged} unchanged, ${counts.refused} refused, ${counts.invalid} invalid`,
  );
  if (batch.error !== null) console.log(`  stopped: ${batch.error}`);
  if (batch.badRows.length > 0) {
    console.log("Bad rows (the first 1,000 are kept):");
    for (const line of textTable(
      ["line", "account", "reason", "detail"],
      batch.badRows
        .slice(0, 50)
        .map((bad) => [String(bad.line), bad.accountId ?? "", bad.reason, bad.detail]),
    ))
      console.log(`  ${line}`);
    if (batch.badRows.length > 50)
      console.log(`  … and ${batch.badRows.length - 50} more (--json lists them)`);
  }
  return 0;
}

function printList(batches: readonly BalanceImport[], json: boolean): number {
  if (json) {
    console.log(JSON.stringify(batches, null, 2));
    return 0;
  }
  if (batches.length === 0) {
    console.log("No imports yet.");
    return 0;
  }
  for (const line of textTable(
    ["batch", "file", "status", "rows", "recorded", "bad", "started"],
    batches.map((batch) => [
      batch.batchId,
      batch.fileName,
      batch.status,
      String(batch.counts.rows),
      String(batch.counts.recorded),
      String(batch.counts.refused + batch.counts.invalid),
      batch.startedAt,
    ]),
  ))
    console.log(line);
  return 0;
}

await runCommandLine({
  name: "balances",
  usage: USAGE,
  parse: parseInvocation,
  configure: () => loadConfig(process.env, { requireApiKeys: false }),
  run,
});
