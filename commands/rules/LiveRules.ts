import type { Logger } from "pino";
import {
  ruleBookOf,
  type PublishedRules,
  type RuleBook,
  type RulesetHistory,
  type RulesetVersion,
} from "../../domain/ruleset/RuleBook.ts";
import { RULESET_STREAM } from "../../domain/ruleset/RulesetEvent.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import { canonicalText } from "../../domain/ruleset/RulesetDocument.ts";
import { epochMsToInstant, instantToEpochMs, type Instant } from "../../domain/values/Instant.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { LogImportUnderWayError } from "../../gateways/eventStore/EventStoreError.ts";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import {
  DEFAULT_RULES_FILE,
  parseRulesetDocument,
  readRulesetFile,
  type ValidatedRuleset,
} from "./loadRules.ts";
import { publishInitialRuleset } from "./publishRuleset.ts";

export interface LiveRulesOptions {
  /** How often to look for a new version (ms): the bound on how late a process applies one. */
  readonly pollMs: number;
  readonly logger: Logger;
  /** Told of each version applied after the first read (the metrics' gauge, the logs). */
  readonly onApplied?: (version: number) => void;
  /**
   * The rules in force while the stream holds no version (rule set version 0): the rules file,
   * when it could not be published (a log being imported refuses every append).
   */
  readonly fallback?: readonly Rule[];
}

/**
 * The rule set in force in this process, kept current from the `ruleset` stream: read whole at
 * start, then polled for new versions every `pollMs` (one indexed read of a small stream). A
 * version whose document no longer validates is logged and skipped, never half-applied; the
 * version before it stays in force.
 */
export class LiveRules implements RulesetHistory {
  #versions: RulesetVersion[] = [];
  #nextRevision = 0;
  #applied: PublishedRules[] = [];
  #book: RuleBook = ruleBookOf([]);
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  private constructor(
    private readonly store: EventStore,
    private readonly options: LiveRulesOptions,
  ) {}

  /** Reads the rule set's history and starts following it. */
  static async start(store: EventStore, options: LiveRulesOptions): Promise<LiveRules> {
    const live = new LiveRules(store, options);
    if (options.fallback !== undefined) {
      live.#book = ruleBookOf([{ version: 0, publishedAtMs: 0, rules: options.fallback }]);
    }
    await live.refresh();
    live.#timer = setInterval(() => {
      live.refresh().catch((error: unknown) => options.logger.warn({ err: error }, "rule set not read"));
    }, options.pollMs);
    live.#timer.unref();
    return live;
  }

  current(): RuleBook {
    return this.#book;
  }

  versions(): readonly RulesetVersion[] {
    return this.#versions;
  }

  /** Reads versions published since the last read; concurrent calls share one read. */
  refresh(): Promise<void> {
    this.#reading ??= this.#readNewVersions().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #readNewVersions(): Promise<void> {
    const before = this.#book.version;
    for await (const event of this.store.readStream(RULESET_STREAM, {
      fromRevision: this.#nextRevision,
    })) {
      this.#nextRevision = event.revision + 1;
      if (event.type !== "RulesetPublished") continue;
      const data = event.data as unknown as RulesetVersion;
      this.#versions.push(data);
      this.#apply(data);
    }
    if (this.#book.version !== before && before !== 0) this.options.onApplied?.(this.#book.version);
  }

  #apply(version: RulesetVersion): void {
    try {
      const { rules } = parseRulesetDocument(`rule set version ${version.version}`, version.document);
      const publishedAtMs = instantToEpochMs(version.publishedAt as Instant);
      this.#applied.push({ version: version.version, publishedAtMs, rules });
      this.#book = ruleBookOf(this.#applied);
      this.options.logger.info({ rulesetVersion: version.version, rules: rules.length }, "rule set in force");
    } catch (error) {
      this.options.logger.error(
        { err: error, rulesetVersion: version.version },
        "rule set version not applied",
      );
    }
  }
}

export interface StartRulesOptions {
  /** The rules file that becomes version 1 when no rule set has been published. */
  readonly file?: URL | string;
  /** The file's rule set when the caller has already read and validated it (read otherwise). */
  readonly fileRuleset?: ValidatedRuleset;
  readonly clock: () => number;
  readonly logger: Logger;
  /** How often each process looks for a new version (default 500 ms). */
  readonly pollMs?: number;
  readonly onApplied?: (version: number) => void;
}

/**
 * The rules of a process: the rules file published as version 1 if nothing is published yet
 * (several processes starting at once publish it once), then the rule set's stream followed.
 * @throws RulesFileError when the file is not valid (only read when it is needed or compared).
 */
export async function startLiveRules(store: EventStore, options: StartRulesOptions): Promise<LiveRules> {
  const file = options.file ?? DEFAULT_RULES_FILE;
  const name = file instanceof URL ? file.pathname : file;
  const ruleset = options.fileRuleset ?? (await readRulesetFile(file));
  try {
    await publishInitialRuleset(
      store,
      { name, ruleset },
      {
        now: epochMsToInstant(options.clock()),
        newEventId,
        metadata: { correlationId: newEventId(), actor: "start-up" },
        logger: options.logger,
      },
    );
  } catch (error) {
    if (!(error instanceof LogImportUnderWayError)) throw error;
    options.logger.warn(
      { file: name },
      "the event log is being imported: the rules file is in force until a rule set version is in the log",
    );
  }
  const live = await LiveRules.start(store, {
    pollMs: options.pollMs ?? 500,
    logger: options.logger,
    fallback: ruleset.rules,
    ...(options.onApplied === undefined ? {} : { onApplied: options.onApplied }),
  });
  const inForce = live.versions().at(-1);
  if (inForce !== undefined && canonicalText(inForce.document) !== canonicalText(ruleset.document)) {
    options.logger.warn(
      { file: name, rulesetVersion: inForce.version },
      "the rules file differs from the rule set in force, which is what counts; publish the file with `npm run rules -- import` to use it",
    );
  }
  return live;
}
