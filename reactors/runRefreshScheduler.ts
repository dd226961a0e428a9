import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { handleCommand } from "../commands/handleCommand.ts";
import { accountDecider, accountStreamId } from "../domain/account/accountDecider.ts";
import { firstRefreshDue, nextRefreshDue, type RefreshSchedule } from "../domain/account/RefreshSchedule.ts";
import { perRuleBook, type RulesInForce } from "../domain/ruleset/RuleBook.ts";
import { epochMsToInstant } from "../domain/values/Instant.ts";
import type { EventStore } from "../gateways/eventStore/EventStore.ts";
import { withMethods } from "../gateways/eventStore/withMethods.ts";
import { AdvisoryLease } from "../gateways/postgres/AdvisoryLease.ts";
import { accountsNoLongerOpenIn, openAccountsMissingFrom } from "../projections/accounts/accountQueries.ts";
import { migrateOperationalTables } from "../gateways/postgres/operationalMigrations.ts";
import type { Logger } from "pino";

export interface RefreshSchedulerOptions {
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly rules: RulesInForce;
  /** Where the schedule lives (`<schema>.refresh_schedule`). */
  readonly schema: string;
  /** The accounts read model's view (`<prefix>_read.accounts`): which accounts are open. */
  readonly accountsView: string;
  readonly signal: AbortSignal;
  /** The period between two refreshes of one account and the delay before its first. */
  readonly schedule: RefreshSchedule;
  /** Between the starts of two looks at the schedule (default 5 s; at once after a longer look). */
  readonly tickMs?: number;
  /**
   * Between two comparisons of the whole accounts read model with the schedule (default an hour;
   * the first tick always compares; after a comparison that changed the schedule the next comes
   * at the next tick, then twice as long after each that still changes it, until one changes
   * nothing). Accounts join and leave as they open and close through `scheduleMembership`; the
   * comparison catches what that missed (accounts opened before it ran).
   */
  readonly reconcileEveryMs?: number;
  /**
   * Refresh requests per tick at most (default 50,000); the rest wait for the next tick. 10
   * million accounts pulled 4 times a day come due at 463 a second: 2,315 a 5 s tick.
   */
  readonly perTick?: number;
  /**
   * Refresh requests made at once (default 64, a claimed chunk): each reads the account's stream and
   * appends, and requests under way at once share those round trips (the store's batches).
   */
  readonly concurrency?: number;
  readonly clock: () => number;
  readonly newEventId: () => string;
  readonly logger: Logger;
}

const UNDEFINED_TABLE = "42P01";
/**
 * Accounts come due spread over the period, and each tick requests those due since the last: a
 * tick of 5 s hands the banking gateway 5 s of refreshes at a time (a 30 s tick handed it bursts of
 * 30,000 at 1,000 due a second, then nothing). A tick that finds nothing due is one indexed read.
 */
const DEFAULT_TICK_MS = 5_000;
const DEFAULT_PER_TICK = 50_000;
const REPORT_EVERY_MS = 60_000;
const DEFAULT_CONCURRENCY = 64;
/** Due accounts read at once. */
const DUE_PAGE = 1000;
/** Due accounts claimed in one statement (a crash costs at most one chunk's refreshes). */
const CLAIM_CHUNK = 64;
const LEASE_CLASS = 0x73636864; // "schd"

/**
 * Requests a scheduled balance refresh for every open account once a period, each on its own
 * phase (`RefreshSchedule`), so that accounts come due spread over the period. The due times
 * live in PostgreSQL (`refresh_schedule`), not in memory: a restart resumes where the schedule
 * stands, and nothing is requested twice for one due time. Accounts join and leave the schedule
 * as they open and close (`scheduleMembership`, a consumer of the fan-out); at its first tick and
 * then every `reconcileEveryMs` the scheduler also compares the whole accounts read model with the
 * schedule, for accounts that consumer never saw, and again soon (the next tick, then backing
 * off) after a comparison that found some (the read model may still be filling) until one finds
 * none. One scheduler holds the lease. Returns when `signal` aborts.
 */
export async function runRefreshScheduler(options: RefreshSchedulerOptions): Promise<void> {
  const lease = await AdvisoryLease.take({
    pool: options.pool,
    classId: LEASE_CLASS,
    name: options.schema,
    signal: options.signal,
    onLost: () => options.logger.warn("scheduler: lost its lease connection"),
    onStandby: () => options.logger.info("scheduler: another scheduler runs; standing by"),
  });
  if (lease === undefined) return;
  try {
    await migrateSchedule(options.pool, options.schema);
    const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    let comparisons: ComparisonPlan = { nextAt: Number.NEGATIVE_INFINITY, againAfterMs: 0 };
    let tickStarted: number;
    // What the ticks requested, said at most once a minute (a tick comes every 5 s).
    let [unreported, reportedAt] = [0, Number.NEGATIVE_INFINITY];
    do {
      if (lease.lost) return;
      tickStarted = performance.now();
      try {
        const { requested, membersChanged } = await schedulerTick(
          options,
          options.clock() >= comparisons.nextAt,
        );
        if (membersChanged !== undefined) {
          comparisons = nextComparison(comparisons, membersChanged, options.clock(), {
            tickMs,
            everyMs: options.reconcileEveryMs ?? 3_600_000,
          });
        }
        unreported += requested;
        if (unreported > 0 && performance.now() - reportedAt >= REPORT_EVERY_MS) {
          options.logger.info(`scheduler: requested ${unreported} balance refreshes`);
          [unreported, reportedAt] = [0, performance.now()];
        }
      } catch (error) {
        // A tick that failed waits a whole tickMs before the next, however long it took to fail.
        tickStarted = performance.now();
        // The read model it reads is created by the projector: on a fresh start, wait for it.
        if ((error as { code?: unknown }).code === UNDEFINED_TABLE) continue;
        options.logger.error(
          { err: error },
          `scheduler: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      // Ticks come `tickMs` apart from start to start: a tick that took longer (a backlog of
      // refreshes to request) is followed at once, so the requests keep up with the due times.
    } while (
      await sleep(Math.max(0, tickMs - (performance.now() - tickStarted)), true, {
        signal: options.signal,
      }).catch(() => false)
    );
  } finally {
    await lease.release();
  }
}

/** When the next comparison of the accounts read model with the schedule is due. */
interface ComparisonPlan {
  readonly nextAt: number;
  /** How long after a comparison that still changes the schedule the next one comes. */
  readonly againAfterMs: number;
}

/**
 * After a comparison that changed `changed` members at `nowMs`: one that changed nothing holds
 * until `everyMs` on. One that changed the schedule is made again soon: on a first start the
 * accounts read model may still be filling (and accounts opened before the scheduler ever ran
 * reach it only so). Soon is the next tick, then twice as long each time it still finds changes
 * (openings the membership consumer has not seen yet, at a steady rate of openings), up to
 * `everyMs`.
 */
function nextComparison(
  plan: ComparisonPlan,
  changed: number,
  nowMs: number,
  { tickMs, everyMs }: { readonly tickMs: number; readonly everyMs: number },
): ComparisonPlan {
  if (changed === 0) return { nextAt: nowMs + everyMs, againAfterMs: 0 };
  return {
    nextAt: nowMs + plan.againAfterMs,
    againAfterMs: Math.min(Math.max(2 * plan.againAfterMs, tickMs), everyMs),
  };
}

/** The schedule's table in `schema`. */
export function scheduleTable(schema: string): string {
  return `"${schema}".refresh_schedule`;
}

/** Creates the schema and `refresh_schedule` if missing (the `scheduler` migration history). */
export async function migrateSchedule(pool: pg.Pool, schema: string): Promise<void> {
  await migrateOperationalTables(pool, "scheduler", schema);
}

/**
 * One look at the schedule: with `reconcile`, open accounts missing from it join and closed ones
 * leave (a comparison of the whole accounts read model); then each account due gets its next due
 * time (claimed 64 at a time), then its refresh request (`concurrency` at once): the earliest due
 * first, in pages, until none is due or `perTick` are done. Returns how many requests were made.
 */
export async function runSchedulerTick(
  options: RefreshSchedulerOptions,
  { reconcile }: { readonly reconcile: boolean } = { reconcile: true },
): Promise<number> {
  return (await schedulerTick(options, reconcile)).requested;
}

/** What a tick did: requests made, and accounts that joined or left (undefined: not compared). */
interface TickOutcome {
  readonly requested: number;
  readonly membersChanged: number | undefined;
}

async function schedulerTick(options: RefreshSchedulerOptions, reconcile: boolean): Promise<TickOutcome> {
  const table = scheduleTable(options.schema);
  const now = new Date(options.clock());
  let membersChanged: number | undefined;
  if (reconcile) {
    const joined = await joinNewAccounts(options, table, now.getTime());
    const closed = await accountsNoLongerOpenIn(options.pool, options.accountsView, table);
    if (closed.length > 0) {
      await options.pool.query(`delete from ${table} where account_id = any($1::text[])`, [closed]);
    }
    membersChanged = joined + closed.length;
  }
  const accounts = perRuleBook(options.rules, (inForce) => accountDecider(inForce));
  const perTick = options.perTick ?? DEFAULT_PER_TICK;
  let requested = 0;
  for (let looked = 0; looked < perTick;) {
    // Claimed accounts are due later now: each page reads the next ones due.
    const { rows } = await options.pool.query<DueAccount>(
      `select account_id, next_due_at from ${table} where next_due_at <= $1 order by next_due_at, account_id limit $2`,
      [now, Math.min(DUE_PAGE, perTick - looked)],
    );
    looked += rows.length;
    for (const chunk of inChunks(rows, CLAIM_CHUNK)) {
      const claimed = await claimDue(options, table, chunk, now);
      // The streams whose request was handed to the store: perhaps written, whatever came back.
      const appending = new Set<string>();
      const store = appendsNoted(options.store, appending);
      try {
        await eachAtOnce(claimed, options.concurrency ?? DEFAULT_CONCURRENCY, async (account) => {
          if (await requestRefresh(options, store, accounts(), account.account_id, now)) requested += 1;
        });
      } catch (error) {
        // The store failed: the accounts claimed whose request it was never asked to append (not
        // reached, or their read failed) are due again as they were.
        await unclaim(
          options,
          table,
          claimed.filter((account) => !appending.has(accountStreamId(account.account_id))),
        ).catch(
          () => undefined, // then they come a period later, as after a crash
        );
        throw error;
      }
    }
    if (rows.length < DUE_PAGE) break;
  }
  return { requested, membersChanged };
}

/**
 * The next due time of each of `due` (accounts read as due), guarded by the one read, in one
 * statement: the accounts claimed, whose refreshes are now to be requested. Claimed before they
 * are requested: a crash after the claim costs these refreshes (the next come on time, a period
 * later), never a second request for the same due time. A chunk is claimed when the last one's
 * requests are done, so a crash costs at most one chunk's refreshes; a request that fails puts
 * those not yet asked for back as they were.
 */
async function claimDue(
  options: RefreshSchedulerOptions,
  table: string,
  due: readonly DueAccount[],
  now: Date,
): Promise<Claim[]> {
  if (due.length === 0) return [];
  const next = due.map((row) => new Date(nextRefreshDue(row.account_id, now.getTime(), options.schedule)));
  const { rows } = await options.pool.query<{ account_id: string }>(
    `update ${table} as scheduled set next_due_at = claim.next_due_at
     from unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) as claim (account_id, due_at, next_due_at)
     where scheduled.account_id = claim.account_id and scheduled.next_due_at = claim.due_at
     returning scheduled.account_id`,
    [due.map((row) => row.account_id), due.map((row) => row.next_due_at), next],
  );
  const claimed = new Set(rows.map((row) => row.account_id));
  return due.flatMap((row, index) =>
    claimed.has(row.account_id) ? [{ ...row, claimed_due_at: next[index] as Date }] : [],
  );
}

/** An account claimed: the due time read, and the next one it was moved to. */
interface Claim extends DueAccount {
  readonly claimed_due_at: Date;
}

/** `claims` due again at the time they were read, where nothing has moved them since. */
async function unclaim(
  options: RefreshSchedulerOptions,
  table: string,
  claims: readonly Claim[],
): Promise<void> {
  if (claims.length === 0) return;
  await options.pool.query(
    `update ${table} as scheduled set next_due_at = claim.due_at
     from unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) as claim (account_id, due_at, claimed_due_at)
     where scheduled.account_id = claim.account_id and scheduled.next_due_at = claim.claimed_due_at`,
    [
      claims.map((claim) => claim.account_id),
      claims.map((claim) => claim.next_due_at),
      claims.map((claim) => claim.claimed_due_at),
    ],
  );
}

/** An account read as due, with the due time read (the claim's guard). */
interface DueAccount {
  readonly account_id: string;
  readonly next_due_at: Date;
}

/** `items` in chunks of `size` (the last one shorter). */
function inChunks<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/** `store`, noting in `streams` the stream of each append it is asked for. */
function appendsNoted(store: EventStore, streams: Set<string>): EventStore {
  return withMethods(store, {
    append: (streamId, expected, events) => {
      streams.add(streamId);
      return store.append(streamId, expected, events);
    },
  });
}

/** One claimed account's refresh requested (through `store`). True if requested. */
async function requestRefresh(
  options: RefreshSchedulerOptions,
  store: EventStore,
  decider: ReturnType<typeof accountDecider>,
  accountId: string,
  now: Date,
): Promise<boolean> {
  const outcome = await handleCommand(
    store,
    decider,
    accountStreamId(accountId),
    { type: "RequestBalanceRefresh", data: { reason: "scheduled", now: epochMsToInstant(now.getTime()) } },
    {
      retriesOnConflict: 3,
      newEventId: options.newEventId,
      metadata: { correlationId: options.newEventId(), actor: "scheduler" },
    },
  );
  if (outcome.outcome === "accepted") return true;
  options.logger.warn(
    `scheduler: account ${accountId}: ${outcome.outcome === "refused" ? outcome.detail : outcome.outcome}`,
  );
  return false;
}

/**
 * `work` for every item, `lanes` at a time, each lane taking the next item when it is done. The
 * first failure is thrown once the lanes have stopped (each stops at its next item).
 */
async function eachAtOnce<T>(
  items: readonly T[],
  lanes: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (!failed && next < items.length) {
        const item = items[next] as T;
        next += 1;
        await work(item).catch((error: unknown) => {
          failed = true;
          throw error;
        });
      }
    }),
  );
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure !== undefined) throw failure.reason;
}

const JOIN_BATCH = 5000;

/**
 * Open accounts not yet on the schedule join it, each due first at its own slot at least the
 * first delay from now (they are seen within a tick of opening). In batches: a first start over
 * a million accounts must not build one statement of a million rows. Returns how many joined.
 */
async function joinNewAccounts(
  options: RefreshSchedulerOptions,
  table: string,
  nowMs: number,
): Promise<number> {
  let joined = 0;
  for (let after = ""; ;) {
    const ids = await openAccountsMissingFrom(options.pool, options.accountsView, table, JOIN_BATCH, after);
    if (ids.length === 0) return joined;
    after = ids.at(-1) ?? after;
    const inserted = await options.pool.query(
      `insert into ${table} (account_id, next_due_at)
       select * from unnest($1::text[], $2::timestamptz[])
       on conflict (account_id) do nothing`,
      [ids, ids.map((id) => new Date(firstRefreshDue(id, nowMs, options.schedule)))],
    );
    // Those the membership consumer added meanwhile were not this comparison's to add.
    joined += inserted.rowCount ?? 0;
    if (ids.length < JOIN_BATCH) return joined;
  }
}
