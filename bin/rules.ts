import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { LiveRules } from "../commands/rules/LiveRules.ts";
import { readRulesetFile, RulesFileError, unknownTemplateProblems } from "../commands/rules/loadRules.ts";
import { publishRuleset } from "../commands/rules/publishRuleset.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { newEventId } from "../gateways/eventStore/newEventId.ts";
import { createLogger } from "../gateways/observability/createLogger.ts";
import { backtestCsv, runBacktest, type BacktestReport } from "../projections/backtest/runBacktest.ts";
import { backtestThreadsFor } from "./backtestThreadsFor.ts";
import { connectDatabase, databaseUrlOf, openEventStore, runCommandLine, UsageError } from "./commandLine.ts";
import { MAX_SNAPSHOT_PARTS } from "../gateways/eventStore/EventStore.ts";
import { loadConfig, type Config } from "./loadConfig.ts";
import { ProgressLine } from "./ProgressLine.ts";
import { textTable } from "./textTable.ts";

const USAGE = `Usage: npm run rules -- <command> [options]

Commands:
  show                                   the rule set in force: version, who published it, when, why
  history                                every version, newest first
  import <file> --comment <why>          publish a rules file (YAML or JSON) as the next version,
                                         validated as at start-up; the same rules as in force: no new version
  backtest <candidate> --from <date> --to <date>
                                         replay the recorded balances through a candidate rules file
                                         and compare, per rule and day, what would have been sent with
                                         what was; appends nothing, sends nothing, changes no read model

Options:
  --comment <text>                       why (import; required)
  --from <date>, --to <date>             the backtest's window, [from, to): 2026-11-01 or an ISO time
  --json-out <file>, --csv-out <file>    also write the backtest's report as JSON / CSV
  --sample <n>                           accounts that would gain / lose an alert to show (default 10)
  --threads <n>                          threads replaying a part of the log each (default BACKTEST_THREADS,
                                         or the cores up to 2; PostgreSQL only)
  --json                                 machine-readable output on stdout
  -h, --help                             this text

The event log is the one in DATABASE_URL (or the embedded PostgreSQL of a running npm start), or
EventStoreDB with EVENT_STORE=eventstoredb. Progress goes to stderr.
Exit status: 0 done, 1 refused (invalid rules, a concurrent publish), 2 bad usage or nothing to connect to.`;

type Invocation =
  | { readonly command: "show" | "history"; readonly json: boolean }
  | { readonly command: "import"; readonly file: string; readonly comment: string; readonly json: boolean }
  | {
      readonly command: "backtest";
      readonly file: string;
      readonly fromMs: number;
      readonly toMs: number;
      readonly jsonOut: string | undefined;
      readonly csvOut: string | undefined;
      readonly sample: number;
      /** Undefined: BACKTEST_THREADS. */
      readonly threads: number | undefined;
      readonly json: boolean;
    };

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      comment: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      "json-out": { type: "string" },
      "csv-out": { type: "string" },
      sample: { type: "string", default: "10" },
      threads: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (command === "show" || command === "history") {
    if (rest.length > 0) throw new UsageError(`${command} takes no arguments (got ${rest.join(" ")})`);
    return { command, json: values.json };
  }
  const [file, ...extra] = rest;
  if (file === undefined) throw new UsageError(`${command}: name the rules file`);
  if (extra.length > 0) throw new UsageError(`${command}: one file only (got ${rest.join(" ")})`);
  if (command === "import") {
    const comment = values.comment?.trim() ?? "";
    if (comment === "") throw new UsageError("import: say why with --comment");
    return { command, file, comment, json: values.json };
  }
  if (command === "backtest") {
    const fromMs = dateOf("--from", values.from);
    const toMs = dateOf("--to", values.to);
    if (toMs <= fromMs) throw new UsageError("backtest: --to must be after --from");
    const sample = Number(values.sample);
    if (!Number.isSafeInteger(sample) || sample < 0 || sample > 1000) {
      throw new UsageError("--sample takes a whole number from 0 to 1000");
    }
    const threads = values.threads === undefined ? undefined : Number(values.threads);
    if (
      threads !== undefined &&
      !(/^\d{1,2}$/.test(values.threads ?? "") && threads >= 1 && threads <= MAX_SNAPSHOT_PARTS)
    ) {
      throw new UsageError(`--threads takes a whole number from 1 to ${MAX_SNAPSHOT_PARTS}`);
    }
    return {
      command,
      file,
      fromMs,
      toMs,
      jsonOut: values["json-out"],
      csvOut: values["csv-out"],
      sample,
      threads,
      json: values.json,
    };
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** A date (midnight UTC) or an ISO time with a zone. */
function dateOf(flag: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError(`backtest: ${flag} is required`);
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  const ms = /(Z|[+-]\d{2}:\d{2})$/.test(iso) ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`${flag} takes a date (2026-11-01) or an ISO time with a zone, not "${text}"`);
  return ms;
}

async function run(invocation: Invocation, config: Config): Promise<number> {
  const pool = await connectDatabase("rules", config, 4);
  if (pool === undefined) return 2;
  const store = await openEventStore(config, pool);
  try {
    const rules = await LiveRules.start(store, {
      pollMs: 60_000,
      logger: createLogger({ level: "silent", base: {} }),
    });
    rules.stop();
    switch (invocation.command) {
      case "show":
      case "history":
        return show(rules, invocation);
      case "import":
        return await importFile(store, rules, invocation);
      case "backtest":
        return await backtest(store, rules, invocation, config);
    }
  } catch (error) {
    if (error instanceof RulesFileError) {
      console.error(`rules: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await store.close();
    await pool.end();
  }
}

function show(rules: LiveRules, invocation: Extract<Invocation, { command: "show" | "history" }>): number {
  const versions = invocation.command === "show" ? rules.versions().slice(-1) : rules.versions().toReversed();
  if (invocation.json) {
    console.log(JSON.stringify(invocation.command === "show" ? (versions[0] ?? null) : versions, null, 2));
    return 0;
  }
  if (versions.length === 0) {
    console.log("no rule set has been published (the system publishes its rules file when it starts)");
    return 0;
  }
  const rows = versions.map((version) => [
    String(version.version),
    version.publishedAt,
    version.publishedBy,
    version.document.rules.map((rule) => `${rule.id}@${rule.version}`).join(" "),
    version.comment,
  ]);
  for (const line of textTable(["version", "published", "by", "rules", "comment"], rows)) console.log(line);
  return 0;
}

async function importFile(
  store: EventStore,
  rules: LiveRules,
  invocation: Extract<Invocation, { command: "import" }>,
): Promise<number> {
  const ruleset = await readRulesetFile(invocation.file);
  const unknownTemplates = unknownTemplateProblems(ruleset, await loadTemplates());
  if (unknownTemplates.length > 0) {
    console.error(`rules: ${invocation.file}: ${unknownTemplates.join("; ")}`);
    return 1;
  }
  const current = rules.current().version;
  const outcome = await publishRuleset(store, ruleset, {
    publishedBy: `file:${invocation.file}`,
    comment: invocation.comment,
    now: epochMsToInstant(Date.now()),
    expectedVersion: current,
    newEventId,
    metadata: { correlationId: newEventId(), actor: "rules-cli" },
  });
  switch (outcome.outcome) {
    case "accepted": {
      const published = outcome.events[0]?.data.version;
      const line =
        published === undefined
          ? `unchanged: version ${current} is already these rules`
          : `published version ${published}`;
      console.log(
        invocation.json
          ? JSON.stringify({ version: published ?? current, changed: published !== undefined })
          : line,
      );
      return 0;
    }
    case "revision_mismatch":
      console.error(
        `rules: version ${outcome.actual + 1} was published meanwhile; look at it (npm run rules -- show) and import again`,
      );
      return 1;
    case "refused":
      console.error(`rules: ${outcome.detail}`);
      return 1;
  }
}

async function backtest(
  store: EventStore,
  rules: LiveRules,
  invocation: Extract<Invocation, { command: "backtest" }>,
  config: Config,
): Promise<number> {
  const candidate = await readRulesetFile(invocation.file);
  const progress = new ProgressLine(true);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  const report = await runBacktest(store, {
    rules: candidate.rules,
    actualRules: rules.current().published,
    templates: await loadTemplates(),
    fromMs: invocation.fromMs,
    toMs: invocation.toMs,
    bounds: config.referenceTimeBounds,
    sampleSize: invocation.sample,
    signal: stop.signal,
    threads: backtestThreadsFor(
      { databaseUrl: databaseUrlOf(config) },
      invocation.threads ?? config.backtestThreads,
    ),
    onProgress: (balances) =>
      progress.show(`backtest: ${balances.toLocaleString("en")} balances replayed`, balances),
  });
  progress.done();
  if (invocation.jsonOut !== undefined)
    await writeFile(invocation.jsonOut, `${JSON.stringify(report, null, 2)}\n`);
  if (invocation.csvOut !== undefined) await writeFile(invocation.csvOut, backtestCsv(report));
  if (invocation.json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  return 0;
}

function printReport(report: BacktestReport): void {
  console.log(
    `Replayed ${report.balancesReplayed.toLocaleString("en")} balances (${report.balancesInWindow.toLocaleString("en")} in ${report.from} – ${report.to}) in ${report.seconds.toFixed(1)} s, ${report.balancesPerSecond.toLocaleString("en")} balances/s.`,
  );
  const suppressed = (counts: Record<string, number>) =>
    String(Object.values(counts).reduce((sum, n) => sum + n, 0));
  const rows = report.rows.map((row) => [
    row.day,
    row.ruleId,
    `${row.candidate.qualified} / ${row.actual.qualified}`,
    `${row.candidate.requested} / ${row.actual.requested}`,
    `${suppressed(row.candidate.suppressed)} / ${suppressed(row.actual.suppressed)}`,
    `${row.candidate.deferred} / ${row.actual.deferred}`,
    `${row.candidate.sent} / ${row.actual.sent}`,
  ]);
  console.log("Each cell: candidate / actual.");
  for (const line of textTable(
    ["day", "rule", "qualified", "requested", "suppressed", "deferred", "sent"],
    rows,
  ))
    console.log(line);
  for (const [title, changes] of [
    ["Would gain an alert", report.gains],
    ["Would lose an alert", report.losses],
  ] as const) {
    if (changes.length === 0) continue;
    console.log(`${title}:`);
    for (const change of changes) {
      const side = change.candidate ?? change.actual;
      console.log(`  ${change.accountId} ${change.ruleId} at ${side?.at ?? "?"}: ${side?.explanation ?? ""}`);
    }
  }
}

await runCommandLine({
  name: "rules",
  usage: USAGE,
  parse: parseInvocation,
  configure: () => loadConfig(process.env, { requireApiKeys: false }),
  run,
});
