import { accountDecider, accountStreamId } from "../../domain/account/accountDecider.ts";
import { perRuleBook, type RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import { setTimeout as sleep } from "node:timers/promises";
import type { EventMetadata, EventStore } from "../../gateways/eventStore/EventStore.ts";
import { DuplicateEventIdError } from "../../gateways/eventStore/EventStoreError.ts";
import { hashedUuid, newEventId, orderedEventId } from "../../gateways/eventStore/newEventId.ts";
import { handleCommand, loadStates } from "../handleCommand.ts";
import { StateCache } from "../StateCache.ts";
import type { BalanceFileRow } from "./BalanceFileRow.ts";
import { ACCOUNT_ID, parseBalancePush } from "./balancePush.ts";

/**
 * Rows decided at once by default. Deciding is in memory once a chunk's states are read; what
 * many rows under way buy is batches of appends (one round trip and commit for up to 256) that
 * are always full: with as many rows under way as one batch holds, the rows of a batch were
 * decided again only once it had come back, and the database waited meanwhile. Four batches'
 * worth keep both of the store's batch slots busy while the next rows are decided.
 */
export const DEFAULT_IMPORT_CONCURRENCY = 1024;

/** How many rows of a file ended each way. */
export interface ImportCounts {
  /** Rows read (bad ones included). */
  rows: number;
  /** A balance recorded (its events appended: the observation, and any qualification). */
  recorded: number;
  /** Accepted with nothing to append: the account already has this balance (a file sent again). */
  unchanged: number;
  /** Refused by the account decider (no account, another currency, out of bounds, closed…). */
  refused: number;
  /** Not a balance at all: unreadable, or a field wrong. */
  invalid: number;
}

export function emptyCounts(): ImportCounts {
  return { rows: 0, recorded: 0, unchanged: 0, refused: 0, invalid: 0 };
}

/** A row that recorded nothing, and why: its place in the file, the domain's code or `invalid`. */
export interface BadRow {
  readonly row: number;
  readonly line: number;
  readonly accountId: string | null;
  readonly reason: string;
  readonly detail: string;
}

export interface ImportBalanceRowsOptions {
  readonly store: EventStore;
  readonly rules: RulesInForce;
  readonly bounds?: ReferenceTimeBounds;
  readonly clock: () => number;
  readonly rows: AsyncIterable<BalanceFileRow>;
  /** Rows up to this one were committed by an earlier run of the same file: passed over. */
  readonly afterRow: number;
  /** Rows decided at once (default 1024; rows of one account always one after another, in file order). */
  readonly concurrency?: number;
  /** The metadata of the events a row appends (who, which batch). */
  readonly metadata: (row: number) => EventMetadata;
  /**
   * The ids of the events a row appends, in order (`rowEventIds`): the same for the same row of
   * the same batch, so that a row decided again after a crash, whose events stand in the log
   * already, appends nothing twice (the store refuses the ids). Fresh ids when absent.
   */
  readonly eventIds?: (row: number) => (index: number) => string;
  /**
   * Told, one call at a time, as the committed row moves on (every row up to it is done): the
   * counts and the bad rows since the last call. A crash resumes after the last row told.
   */
  readonly onCommitted: (committedRow: number, counts: ImportCounts, bad: readonly BadRow[]) => Promise<void>;
  /** How far the committed row moves, at most, between two calls (default 1,000 rows). */
  readonly commitEvery?: number;
  readonly signal?: AbortSignal;
}

/**
 * Records each row of a balance file as a push would: the same parse and bounds
 * (`parseBalancePush`), then the account decider on the account's stream. A bad row is counted
 * and told with its line and reason; the file goes on. Rows of different accounts are decided
 * `concurrency` at a time; rows of one account in file order. An error of the store stops the
 * import after the rows under way: nothing after the last committed row is taken as done, and
 * deciding a row again records nothing twice (the account already has that balance).
 */
export async function importBalanceRows(options: ImportBalanceRowsOptions): Promise<ImportCounts> {
  const concurrency = options.concurrency ?? DEFAULT_IMPORT_CONCURRENCY;
  const commitEvery = options.commitEvery ?? 1000;
  const deciding = perRuleBook(options.rules, (inForce, book) => ({
    decider: accountDecider(inForce, options.bounds, book.version),
    cache: new StateCache<unknown>(),
  }));
  // Counts of committed rows only: a crash resumes after the committed row, and the rows after it
  // are decided (and counted) again.
  const watermark = new Watermark(options.afterRow);
  const counts = watermark.counts;
  let bad: BadRow[] = [];
  let told = options.afterRow;
  let telling = Promise.resolve();
  let failure: unknown;
  const tails = new Map<string, Promise<void>>();
  const slots = new Slots(concurrency);

  const tell = () => {
    const committed = watermark.committed;
    if (committed === told) return;
    told = committed;
    // Told once committed, in file order: a bad row after the committed one waits its turn.
    const since = bad.filter((row) => row.row <= committed).sort((a, b) => a.row - b.row);
    bad = bad.filter((row) => row.row > committed);
    const snapshot = { ...counts };
    telling = telling.then(() => options.onCommitted(committed, snapshot, since));
  };
  const record = async (row: BalanceFileRow): Promise<Outcome> => {
    const outcome = await decideBalanceRow(row, options, deciding);
    if (outcome === "recorded" || outcome === "unchanged") return outcome;
    bad.push(outcome.bad);
    return outcome.kind;
  };

  try {
    for await (const row of prefetchingStates(options, deciding)) {
      if (failure !== undefined) break;
      options.signal?.throwIfAborted();
      await slots.take();
      const key = "problem" in row ? `#${row.row}` : row.accountId;
      const work = (tails.get(key) ?? Promise.resolve())
        .then(() => (failure === undefined ? record(row) : Promise.reject(new Error("stopped"))))
        .then(
          (outcome) => {
            watermark.done(row.row, outcome);
            if (watermark.committed - told >= commitEvery) tell();
          },
          (error: unknown) => {
            failure ??= error;
          },
        )
        .finally(() => {
          slots.give();
          if (tails.get(key) === work) tails.delete(key);
        });
      tails.set(key, work);
    }
  } finally {
    // What is under way ends, and what it finished is told, however the reading ended.
    await Promise.all(tails.values());
    tell();
    await telling;
  }
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error("a row failed", { cause: failure });
  options.signal?.throwIfAborted();
  return counts;
}

/** Rows fetched ahead of deciding: their accounts' states folded from one read per chunk. */
const PREFETCH_ROWS = 500;

type Deciding = () => {
  readonly decider: ReturnType<typeof accountDecider>;
  readonly cache: StateCache<unknown>;
};

/**
 * The rows after `afterRow`, in order, a chunk at a time; before a chunk is handed on, the states
 * of its accounts are read in one query and put in the decider's cache, so that deciding a row
 * need not read its stream. Only a guess, as every cached state: a row whose account moved since
 * fails its append and is decided again on a fresh read.
 */
async function* prefetchingStates(
  options: Pick<ImportBalanceRowsOptions, "rows" | "afterRow" | "store">,
  deciding: Deciding,
): AsyncIterable<BalanceFileRow> {
  let chunk: BalanceFileRow[] = [];
  const handOn = async function* () {
    const { decider, cache } = deciding();
    const streamIds = new Set<string>();
    for (const row of chunk) {
      if (!("problem" in row) && ACCOUNT_ID.safeParse(row.accountId).success) {
        const streamId = accountStreamId(row.accountId);
        if (cache.get(streamId) === undefined) streamIds.add(streamId);
      }
    }
    for (const [streamId, { state, revision }] of await loadStates(options.store, decider, [...streamIds])) {
      cache.set(streamId, state, revision);
    }
    const rows = chunk;
    chunk = [];
    yield* rows;
  };
  for await (const row of options.rows) {
    if (row.row <= options.afterRow) continue;
    chunk.push(row);
    if (chunk.length >= PREFETCH_ROWS) yield* handOn();
  }
  yield* handOn();
}

/**
 * One row: read, parsed as a push (`parseBalancePush`), then decided by the account decider on
 * the account's stream; what it came to.
 */
async function decideBalanceRow(
  row: BalanceFileRow,
  options: Pick<ImportBalanceRowsOptions, "store" | "clock" | "metadata" | "eventIds">,
  deciding: () => {
    readonly decider: ReturnType<typeof accountDecider>;
    readonly cache: StateCache<unknown>;
  },
): Promise<"recorded" | "unchanged" | BadOutcome> {
  if ("problem" in row) return invalid(row, null, row.problem);
  if (!ACCOUNT_ID.safeParse(row.accountId).success) {
    return invalid(row, null, "accountId: must be 1-64 letters, digits, _ or -");
  }
  const parsed = parseBalancePush(row.body, epochMsToInstant(options.clock()), "push", "row");
  if (parsed.kind === "invalid") {
    const detail = parsed.problems.map((problem) => `${problem.field}: ${problem.problem}`).join("; ");
    return invalid(row, row.accountId, detail);
  }
  if (parsed.kind === "not_current") {
    return refusedRow(row, row.accountId, "balance_type_not_current", parsed.detail);
  }
  const { decider, cache } = deciding();
  const streamId = accountStreamId(row.accountId);
  // Another writer on the account (a push, another file) may move its stream between the read
  // and the append, again and again: each round decides on a fresh read, a little later.
  for (let round = 1; ; round += 1) {
    let outcome;
    try {
      outcome = await handleCommand(options.store, decider, streamId, parsed.command, {
        retriesOnConflict: 3,
        newEventId,
        ...(options.eventIds === undefined ? {} : { eventIdAt: options.eventIds(row.row) }),
        metadata: options.metadata(row.row),
        cache,
      });
    } catch (error) {
      // This row's own events, by their ids, stand in its account's stream: an earlier run of
      // the batch appended them and stopped before it committed the row.
      if (
        error instanceof DuplicateEventIdError &&
        options.eventIds !== undefined &&
        (error.existing === null || error.existing.streamId === streamId)
      ) {
        return "recorded";
      }
      throw error;
    }
    switch (outcome.outcome) {
      case "accepted":
        return outcome.events.length === 0 ? "unchanged" : "recorded";
      case "refused":
        return refusedRow(row, row.accountId, outcome.code, outcome.detail);
      case "revision_mismatch":
        if (round < CONFLICT_ROUNDS) {
          await sleep(Math.random() * 20 * round);
          continue;
        }
        return refusedRow(
          row,
          row.accountId,
          "write_conflict",
          `the account's stream kept moving under another writer (${CONFLICT_ROUNDS} rounds of reads): push this balance (POST /accounts/{id}/balances) or send it in a file of its own`,
        );
    }
  }
}

/** Rounds of deciding a row on a fresh read before it is a bad row for conflicts (each retries 3 times). */
const CONFLICT_ROUNDS = 8;

/**
 * The ids of the events row `row` of batch `batchId` (begun at `startedMs`) appends, by their
 * place: the same row of the same batch always appends the same ids (`orderedEventId`: laid out
 * by the batch's start and the row, so a batch's events land together in the log's index of ids),
 * and no two rows or batches share one.
 */
export function rowEventIds(batchId: string, startedMs: number, row: number): (index: number) => string {
  return (index) =>
    index < ROW_EVENTS
      ? orderedEventId(
          startedMs,
          row * ROW_EVENTS + index,
          `tidemark-balance-import:${batchId}:${row}:${index}`,
        )
      : hashedUuid(`tidemark-balance-import:${batchId}:${row}:${index}`);
}

/** Events a row's ordered ids have room for (a balance and its rules' qualifications); more are hashed. */
const ROW_EVENTS = 64;

type BadOutcome = { readonly kind: "invalid" | "refused"; readonly bad: BadRow };
type Outcome = "recorded" | "unchanged" | BadOutcome["kind"];

function invalid(row: BalanceFileRow, accountId: string | null, detail: string): BadOutcome {
  return { kind: "invalid", bad: { row: row.row, line: row.line, accountId, reason: "invalid", detail } };
}

function refusedRow(row: BalanceFileRow, accountId: string, reason: string, detail: string): BadOutcome {
  return { kind: "refused", bad: { row: row.row, line: row.line, accountId, reason, detail } };
}

/**
 * The highest row such that it and every row before it are done, and the counts of those rows
 * (the rows after `start` only).
 */
class Watermark {
  readonly counts = emptyCounts();
  readonly #doneAbove = new Map<number, Outcome>();
  #committed: number;

  constructor(start: number) {
    this.#committed = start;
  }

  get committed(): number {
    return this.#committed;
  }

  done(row: number, outcome: Outcome): void {
    this.#doneAbove.set(row, outcome);
    for (let next = this.#doneAbove.get(this.#committed + 1); next !== undefined;) {
      this.#doneAbove.delete(this.#committed + 1);
      this.#committed += 1;
      this.counts.rows += 1;
      this.counts[next] += 1;
      next = this.#doneAbove.get(this.#committed + 1);
    }
  }
}

/** At most `size` rows under way at once. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free += 1;
    else next();
  }
}
