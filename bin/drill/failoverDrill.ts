import { chmod, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { loadRules } from "../../commands/rules/loadRules.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { START } from "../../gateways/eventStore/Position.ts";
import { allProjections } from "../../projections/allProjections.ts";
import {
  liveBuilds,
  projectionSchemas,
  type ProjectionBuild,
} from "../../projections/runtime/ProjectionBuilds.ts";
import { generateEventLog } from "../../test/generateEventLog.ts";
import { startSystemProcess, type SystemProcess } from "../../test/systemProcess.ts";
import { CommandWorkload } from "./CommandWorkload.ts";
import { DrillResources } from "./DrillResources.ts";
import { findLostCommands, type LostCommands } from "./findLostCommands.ts";
import { liveReadModelDigests, type LiveReadModelDigest } from "./liveReadModelDigests.ts";
import { PostgresCluster, type ReplicationMode } from "./PostgresCluster.ts";
import { ProjectionsCli, type ReadModelDigests, type RebuildReport } from "./ProjectionsCli.ts";
import { ReplicationLink } from "./ReplicationLink.ts";

/** What one drill does: its replication mode, the log it starts from, and the workload. */
export interface FailoverDrillOptions {
  readonly mode: ReplicationMode;
  /** Events written into the primary's log (through the real deciders) before the workload. */
  readonly events: number;
  /** Seconds of command workload before the primary is killed. */
  readonly workloadSeconds: number;
  /** Commands per second of the workload (0: as fast as answered); default 1000. */
  readonly rate?: number;
  /** Concurrent clients of the workload; default 16. */
  readonly concurrency?: number;
  /**
   * Milliseconds the WAL stream takes from the primary to the replica (default 10): a link
   * between sites, whose bytes in transit are lost when the primary's host dies. 0: loopback.
   */
  readonly linkDelayMs?: number;
  /** Where the drill's clusters go (a fresh directory inside, removed at the end); default /tmp. */
  readonly directory?: string;
  /** Released on every path; the caller's signal handler may release them early (Ctrl-C). */
  readonly resources?: DrillResources;
  /** One line per step, as it happens. */
  readonly progress?: (message: string) => void;
}

/** One read model before and after the failover. */
export interface ReadModelComparison {
  readonly projection: string;
  /** The primary's live build, as replicated. */
  readonly replicatedBuild: string;
  /** C: the checkpoint of the primary's live build as the replica had it at promotion. */
  readonly checkpointAtPromotion: string;
  /** That build's digest as found at C. */
  readonly digestAsFound: string;
  /** That build caught up to P (by the projector on the new primary): its position and digest. */
  readonly livePosition: string;
  readonly liveDigest: string;
  /** The fresh build replayed from position zero (`rebuild --all`), swapped in, then `verify`. */
  readonly rebuiltBuild: string;
  readonly rebuiltPosition: string;
  readonly rebuiltDigest: string;
  readonly rows: Readonly<Record<string, number>>;
  /** Both at P with equal digests, and the rebuild's own comparison at P passed (it swapped). */
  readonly equal: boolean;
  readonly problem: string | null;
}

/** What a drill measured, and whether its checks passed. */
export interface FailoverDrillReport {
  readonly mode: ReplicationMode;
  readonly eventsPreloaded: number;
  readonly preloadSeconds: number;
  readonly linkDelayMs: number;
  readonly workload: {
    readonly seconds: number;
    readonly concurrency: number;
    readonly rate: number;
    readonly commandsAcknowledged: number;
    readonly eventsAcknowledged: number;
    readonly commandsPerSecond: number;
    /** Not acknowledged (mostly those caught by the kill), by status or error code. */
    readonly commandsFailed: Readonly<Record<string, number>>;
    /** Requests in flight when the kill was issued. */
    readonly inFlightAtKill: number;
    /** Acknowledged while `pg_ctl stop -m immediate` was on its way (the primary still committing). */
    readonly acknowledgedAfterKillIssued: number;
    /** Seconds from the last acknowledgement until `pg_ctl stop` returned (the primary down). */
    readonly lastAcknowledgedBeforePrimaryDown: number;
  };
  /** WAL the standby had not flushed / replayed a moment before the kill (bytes). */
  readonly standbyLagBeforeKill: { readonly flushBytes: number; readonly replayBytes: number } | null;
  /** Acknowledged commands whose events are gone after the failover. */
  readonly rpo: {
    readonly commandsLost: number;
    readonly eventsLost: number;
    /**
     * From the earliest lost acknowledgement to the last acknowledgement the primary gave: the
     * acknowledged history that is gone is at most that long; 0 when nothing is lost.
     */
    readonly secondsLost: number;
    readonly examples: readonly string[];
  };
  /** Seconds from the kill until a command and a query are served again, and its parts. */
  readonly rto: {
    readonly seconds: number;
    readonly kill: number;
    readonly promote: number;
    /** Promoted → Tidemark running on the new primary (the read models as found recorded alongside). */
    readonly systemStart: number;
    readonly rebuildAndVerify: number;
    readonly firstCommandAndQuery: number;
    readonly rebuildAndVerifyParts: {
      /** Until the new projector has brought the replicated read models to P. */
      readonly catchUp: number;
      /** `rebuild --all` (the CLI, start-up included): fill from zero, compare at P, swap. */
      readonly rebuild: number;
      /** `verify --all` (the CLI) of the rebuilt read models. */
      readonly verify: number;
    };
    /** The drill's own digests, taken beside the steps above (within them, not added to them). */
    readonly alongside: { readonly recordAsFound: number; readonly digestReplicatedAtP: number };
  };
  /** P: the last event in the promoted replica's log, and how many events it holds. */
  readonly replayedPosition: string;
  readonly eventsInPromotedLog: number;
  readonly rebuild: {
    readonly seconds: number;
    readonly eventsRead: number;
    readonly eventsPerSecond: number;
  };
  readonly readModels: readonly ReadModelComparison[];
  /** The command and the query served after the failover. */
  readonly afterFailover: {
    readonly accountId: string;
    readonly commandStatus: number;
    readonly position: string | null;
    readonly queryStatus: number;
    readonly visible: boolean;
  };
  readonly checks: readonly { readonly name: string; readonly passed: boolean; readonly detail: string }[];
  readonly passed: boolean;
}

const DATABASE = "tidemark";
const SYSTEM_ROLES = ["command-api", "query-api", "projector"] as const;
const SCHEMAS = projectionSchemas("tidemark");

/**
 * One failover drill: a PostgreSQL primary and a streaming replica (`pg_basebackup -R`) on
 * loopback ports, the primary preloaded with a generated log and its read models, Tidemark
 * (command API, query API, projector) on the primary under a steady command workload; then the
 * primary killed hard (`pg_ctl stop -m immediate`) with requests in flight, the replica promoted,
 * the read models as replicated recorded (`verify`), Tidemark started on the new primary, its
 * projector bringing them to the log's end P (`verify` again), the log replayed into fresh read
 * models (`rebuild --all`: built from zero, compared at P with the replicated ones, swapped),
 * verified, and a new command and a query served. RTO runs from the kill to that query's answer;
 * RPO counts the acknowledged commands the promoted log lacks.
 */
export async function runFailoverDrill(options: FailoverDrillOptions): Promise<FailoverDrillReport> {
  const say = options.progress ?? (() => undefined);
  const resources = options.resources ?? new DrillResources();
  const rate = options.rate ?? 1000;
  const concurrency = options.concurrency ?? 16;
  const linkDelayMs = options.linkDelayMs ?? 10;
  try {
    const { primary, replica, link } = await setUpClusters(options, linkDelayMs, resources, say);
    const preloaded = await preloadPrimary(primary, options, resources, say);

    const before = await startSystem(primary.url(DATABASE), resources);
    const workload = await startWorkload(before.system, options, concurrency, rate, resources, say);
    const standbyLagBeforeKill = (await primary.standbyLag()) ?? null;

    // ---- the failure: RTO runs from here ----
    const kill = await killPrimary(primary, link, workload, options.mode, say);
    const workloadStopped = workload.stop();
    // The old process lost its database: it goes (not on the recovery's path).
    const oldSystemStopped = before.stop();
    const recovery = await recoverOnReplica(replica, kill, resources, options.mode, say);

    await workloadStopped;
    await oldSystemStopped;
    const store = new PostgresEventStore(recovery.pool);
    const lost = await findLostCommands(store, workload.acknowledged);
    const eventsInPromotedLog = await store.countAfter(START);
    await store.close();

    const lastAcknowledgedAtMs = workload.acknowledged.reduce(
      (last, c) => Math.max(last, c.acknowledgedAtMs),
      0,
    );
    const { rebuild } = recovery;
    const report: Omit<FailoverDrillReport, "checks" | "passed"> = {
      mode: options.mode,
      ...preloaded,
      linkDelayMs,
      workload: workloadFigures(workload, kill, lastAcknowledgedAtMs, concurrency, rate),
      standbyLagBeforeKill,
      rpo: dataLoss(lost, lastAcknowledgedAtMs),
      rto: recoveryTimes(kill, recovery),
      replayedPosition: recovery.replayedPosition,
      eventsInPromotedLog,
      rebuild: {
        seconds: rebuild.seconds,
        eventsRead: rebuild.eventsRead,
        eventsPerSecond: rebuild.eventsPerSecond,
      },
      readModels: compareReadModels({
        replicated: recovery.replicated,
        asFound: recovery.asFound.value,
        live: recovery.live.value,
        rebuild,
        fresh: recovery.fresh,
        replayedPosition: recovery.replayedPosition,
      }),
      afterFailover: recovery.afterFailover,
    };
    const checks = checksOf(report);
    return { ...report, checks, passed: checks.every((check) => check.passed) };
  } finally {
    const failures = await resources.releaseAll();
    if (failures.length > 0) say(`[${options.mode}] cleanup: ${failures.join("; ")}`);
  }
}

/** Seconds from one `performance.now()` to another, to the millisecond. */
function secondsBetween(from: number, to: number): number {
  return Math.round(to - from) / 1000;
}

/**
 * A primary (with the drill's database) and its streaming replica in a fresh directory, the WAL
 * going through a delaying link; each registered in `resources` before it exists.
 */
async function setUpClusters(
  options: FailoverDrillOptions,
  linkDelayMs: number,
  resources: DrillResources,
  say: (message: string) => void,
): Promise<{ primary: PostgresCluster; replica: PostgresCluster; link: ReplicationLink }> {
  const root = await mkdtemp(join(options.directory ?? "/tmp", `tidemark-drill-${options.mode}-`));
  // The clusters' servers run as postgres when we are root: they must reach their directories.
  await chmod(root, 0o755);
  resources.add(`directory ${root}`, () => rm(root, { recursive: true, force: true }));

  say(`[${options.mode}] primary and replica in ${root}`);
  // Registered before they exist: an interrupted initdb or basebackup leaves nothing running either.
  const primaryDirectory = join(root, "primary");
  const replicaDirectory = join(root, "replica");
  resources.add("primary", () => PostgresCluster.destroyDirectory(primaryDirectory));
  resources.add("replica", () => PostgresCluster.destroyDirectory(replicaDirectory));
  const primary = await PostgresCluster.initialize({ directory: primaryDirectory });
  await primary.createDatabase(DATABASE);
  const link = await ReplicationLink.open({ targetPort: primary.port, delayMs: linkDelayMs });
  resources.add("replication link", () => link.close());
  const replica = await PostgresCluster.replicaOf(primary, {
    directory: replicaDirectory,
    streamFromPort: link.port,
  });
  say(
    `[${options.mode}] primary on port ${primary.port}, streaming replica on port ${replica.port} (WAL delayed ${linkDelayMs} ms on the way)`,
  );
  return { primary, replica, link };
}

/**
 * The primary's generated log and its read models (`rebuild --all`, every one swapped in), then
 * replication switched to the drill's mode and the replica caught up.
 */
async function preloadPrimary(
  primary: PostgresCluster,
  options: FailoverDrillOptions,
  resources: DrillResources,
  say: (message: string) => void,
): Promise<Pick<FailoverDrillReport, "eventsPreloaded" | "preloadSeconds">> {
  const preloadStarted = performance.now();
  const eventsPreloaded = await preload(primary.url(DATABASE), options.events, say, options.mode);
  say(`[${options.mode}] read models of the preloaded log (rebuild --all on the primary)`);
  const initial = await new ProjectionsCli(primary.url(DATABASE), resources.signal).rebuild();
  const notSwapped = initial.results.filter((result) => result.outcome !== "swapped");
  if (notSwapped.length > 0) throw new Error(`initial read models: ${JSON.stringify(notSwapped)}`);
  const preloadSeconds = secondsBetween(preloadStarted, performance.now());
  await primary.setReplicationMode(options.mode);
  if (options.mode === "synchronous") await primary.waitForSynchronousStandby();
  await primary.waitForStandbyReplay();
  say(
    `[${options.mode}] ${eventsPreloaded.toLocaleString("en")} events and their read models in ${preloadSeconds.toFixed(1)} s; replica caught up, replication ${options.mode}`,
  );
  return { eventsPreloaded, preloadSeconds };
}

/**
 * Starts the command workload on `system` and lets it run for `workloadSeconds`; it is still
 * running when this returns, for the kill to come under it.
 */
async function startWorkload(
  system: SystemProcess,
  options: FailoverDrillOptions,
  concurrency: number,
  rate: number,
  resources: DrillResources,
  say: (message: string) => void,
): Promise<CommandWorkload> {
  say(
    `[${options.mode}] Tidemark on the primary; workload: ${concurrency} clients, ${rate || "unpaced"} commands/s for ${options.workloadSeconds} s`,
  );
  const workload = CommandWorkload.start({
    commandUrl: system.commandUrl,
    apiKey: system.apiKey,
    concurrency,
    rate,
    accountsPerClient: 25,
    accountPrefix: `drill-${options.mode}`,
  });
  resources.add("workload", () => workload.stop());
  await sleep(options.workloadSeconds * 1000, undefined, { signal: resources.signal });
  return workload;
}

/** When the primary was killed and went down, by both clocks, and what was in flight then. */
interface Kill {
  readonly inFlightAtKill: number;
  /** `performance.now()` and `Date.now()` as the kill was issued, and once `pg_ctl stop` returned. */
  readonly killedAt: number;
  readonly killedAtMs: number;
  readonly killDone: number;
  readonly killDoneMs: number;
}

/** The failure: the primary killed hard under the workload, and the WAL still on the link lost. */
async function killPrimary(
  primary: PostgresCluster,
  link: ReplicationLink,
  workload: CommandWorkload,
  mode: ReplicationMode,
  say: (message: string) => void,
): Promise<Kill> {
  const inFlightAtKill = workload.inFlight;
  const killedAt = performance.now();
  const killedAtMs = Date.now();
  await primary.stop("immediate");
  const killDone = performance.now();
  const killDoneMs = Date.now();
  // The primary's host is down: the WAL still on the link is lost with it (the relay drops it
  // as soon as the primary's end closes; this is for certain).
  link.cut();
  say(`[${mode}] primary killed (pg_ctl stop -m immediate) with ${inFlightAtKill} requests in flight`);
  return { inFlightAtKill, killedAt, killedAtMs, killDone, killDoneMs };
}

/** What the recovery found and did, with the `performance.now()` at the end of each step. */
interface Recovery {
  /** On the promoted replica; the caller ends it through `resources`. */
  readonly pool: pg.Pool;
  /** C: the live builds as replicated; P: the end of the replayed log. */
  readonly replicated: ReadonlyMap<string, ProjectionBuild>;
  readonly replayedPosition: string;
  readonly asFound: { readonly value: readonly LiveReadModelDigest[]; readonly seconds: number };
  readonly live: { readonly value: readonly LiveReadModelDigest[]; readonly seconds: number };
  readonly rebuild: RebuildReport;
  readonly fresh: ReadModelDigests;
  readonly afterFailover: FailoverDrillReport["afterFailover"];
  readonly promoted: number;
  readonly systemStarted: number;
  readonly caughtUp: number;
  readonly rebuilt: number;
  readonly verified: number;
  readonly served: number;
}

/**
 * The recovery on the replica: promoted, its read models as found recorded while Tidemark starts
 * on it, brought to P by its projector, replayed into fresh ones (`rebuild --all`) and verified,
 * then a new command and a query served.
 */
async function recoverOnReplica(
  replica: PostgresCluster,
  kill: Kill,
  resources: DrillResources,
  mode: ReplicationMode,
  say: (message: string) => void,
): Promise<Recovery> {
  await replica.promote();
  const promoted = performance.now();
  say(`[${mode}] replica promoted in ${secondsBetween(kill.killDone, promoted)} s`);

  const pool = new pg.Pool({ connectionString: replica.url(DATABASE), max: 10 });
  pool.on("error", () => undefined);
  resources.add("pool on the promoted replica", () => pool.end());
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  // C, before anything can move it; P, the end of what the replica replayed.
  const replicated = await liveBuilds(db, SCHEMAS);
  const replayedPosition = await readLogHead(pool);
  // The read models as found are recorded while Tidemark starts: their snapshots are taken
  // long before its projector can commit anything (and a late one would show as a moved C).
  const [asFound, after] = await Promise.all([
    timed(() => liveReadModelDigests(db, SCHEMAS)),
    startSystem(replica.url(DATABASE), resources),
  ]);
  const systemStarted = performance.now();
  say(
    `[${mode}] Tidemark on the promoted replica in ${secondsBetween(promoted, systemStarted)} s; read models as found: ${describeDigests(asFound.value)}; the log ends at P = ${replayedPosition}`,
  );

  await waitForLiveBuildsAt(db, replayedPosition, resources.signal);
  const caughtUp = performance.now();
  // The replicated read models at P are digested beside the rebuild's filling, which does not
  // touch them; the rebuild's swap, seconds later, compares them at P once more itself.
  const cli = new ProjectionsCli(replica.url(DATABASE), resources.signal);
  const [live, rebuild] = await Promise.all([timed(() => liveReadModelDigests(db, SCHEMAS)), cli.rebuild()]);
  const rebuilt = performance.now();
  say(
    `[${mode}] replicated read models at P: ${describeDigests(live.value)}; rebuild --all: ${rebuild.eventsRead.toLocaleString("en")} events in ${rebuild.seconds.toFixed(1)} s (${rebuild.eventsPerSecond.toLocaleString("en")} events/s)`,
  );
  const fresh = await cli.verify();
  const verified = performance.now();
  say(`[${mode}] verify (rebuilt read models): ${describeDigests(fresh)}`);

  const afterFailover = await serveCommandAndQuery(after.system, `drill-${mode}-after-failover`);
  const served = performance.now();
  say(
    `[${mode}] command ${afterFailover.commandStatus}, query ${afterFailover.queryStatus}: RTO ${secondsBetween(kill.killedAt, served)} s`,
  );
  return {
    pool,
    replicated,
    replayedPosition,
    asFound,
    live,
    rebuild,
    fresh,
    afterFailover,
    promoted,
    systemStarted,
    caughtUp,
    rebuilt,
    verified,
    served,
  };
}

/** The workload's figures up to the kill; `lastAcknowledgedAtMs` is its last 2xx (0: none). */
function workloadFigures(
  workload: CommandWorkload,
  kill: Kill,
  lastAcknowledgedAtMs: number,
  concurrency: number,
  rate: number,
): FailoverDrillReport["workload"] {
  const acknowledgedEvents = workload.acknowledged.reduce((sum, command) => sum + command.events, 0);
  const workloadSeconds = (kill.killedAtMs - workload.startedAtMs) / 1000;
  return {
    seconds: workloadSeconds,
    concurrency,
    rate,
    commandsAcknowledged: workload.acknowledged.length,
    eventsAcknowledged: acknowledgedEvents,
    commandsPerSecond: Math.round(workload.acknowledged.length / workloadSeconds),
    commandsFailed: Object.fromEntries(workload.failures),
    inFlightAtKill: kill.inFlightAtKill,
    acknowledgedAfterKillIssued: workload.acknowledged.filter((c) => c.acknowledgedAtMs >= kill.killedAtMs)
      .length,
    lastAcknowledgedBeforePrimaryDown: (kill.killDoneMs - lastAcknowledgedAtMs) / 1000,
  };
}

/** RPO: the acknowledged commands the promoted log lacks, and how much history they span. */
function dataLoss(lost: LostCommands, lastAcknowledgedAtMs: number): FailoverDrillReport["rpo"] {
  return {
    commandsLost: lost.commands,
    eventsLost: lost.events,
    secondsLost:
      lost.earliestAcknowledgedAtMs === null
        ? 0
        : (lastAcknowledgedAtMs - lost.earliestAcknowledgedAtMs) / 1000,
    examples: lost.examples,
  };
}

/** RTO, from the kill to the query's answer, and its parts. */
function recoveryTimes(kill: Kill, recovery: Recovery): FailoverDrillReport["rto"] {
  const { killedAt, killDone } = kill;
  const { promoted, systemStarted, caughtUp, rebuilt, verified, served } = recovery;
  return {
    seconds: secondsBetween(killedAt, served),
    kill: secondsBetween(killedAt, killDone),
    promote: secondsBetween(killDone, promoted),
    systemStart: secondsBetween(promoted, systemStarted),
    rebuildAndVerify: secondsBetween(systemStarted, verified),
    firstCommandAndQuery: secondsBetween(verified, served),
    rebuildAndVerifyParts: {
      catchUp: secondsBetween(systemStarted, caughtUp),
      rebuild: secondsBetween(caughtUp, rebuilt),
      verify: secondsBetween(rebuilt, verified),
    },
    alongside: { recordAsFound: recovery.asFound.seconds, digestReplicatedAtP: recovery.live.seconds },
  };
}

/** Writes about `events` events through the real deciders, as 32 concurrent writers. */
async function preload(
  url: string,
  events: number,
  say: (message: string) => void,
  mode: ReplicationMode,
): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 40 });
  try {
    await PostgresEventStore.migrate(pool);
    const store = new PostgresEventStore(pool);
    let reported = 0;
    try {
      return await generateEventLog(
        store,
        {
          accounts: Math.max(1, Math.round(events / 50)),
          events,
          seed: 1,
          writers: 32,
          onProgress: (written) => {
            if (written - reported < Math.max(events / 5, 1)) return;
            reported = written;
            say(
              `[${mode}] preloading: ${written.toLocaleString("en")} of ~${events.toLocaleString("en")} events`,
            );
          },
        },
        await loadRules(),
      );
    } finally {
      await store.close();
    }
  } finally {
    await pool.end();
  }
}

/** Tidemark's command API, query API and projector as a process of their own on `url`. */
async function startSystem(
  url: string,
  resources: DrillResources,
): Promise<{ system: SystemProcess; stop: () => Promise<void> }> {
  const system = await startSystemProcess({ roles: SYSTEM_ROLES, env: { DATABASE_URL: url } });
  const stop = resources.add(`Tidemark on ${url}`, () => system.stop());
  return { system, stop };
}

/**
 * The position of the last event in the log: the replica's last replayed append. Read from the
 * store's table directly (the port has no "head"): the same position text the adapter builds.
 */
async function readLogHead(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ position: string }>(
    `select lpad(to_hex(transaction_order), 16, '0') || '-' || lpad(to_hex(global_position), 16, '0') as position
       from tidemark.events order by transaction_order desc, global_position desc limit 1`,
  );
  return rows[0]?.position ?? START;
}

/** Waits until every projection's live build has reached `position` (the projector catching up). */
async function waitForLiveBuildsAt(
  db: Kysely<unknown>,
  position: string,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const live = await liveBuilds(db, SCHEMAS);
    const behind = allProjections.filter((projection) => {
      const build = live.get(projection.name);
      return build === undefined || build.position < position;
    });
    if (behind.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `live builds of ${behind.map((p) => p.name).join(", ")} not at ${position} after 120 s`,
      );
    }
    await sleep(25, undefined, { signal });
  }
}

/** A new account opened through the command API and read back through the query API at its position. */
async function serveCommandAndQuery(
  system: SystemProcess,
  accountId: string,
): Promise<FailoverDrillReport["afterFailover"]> {
  const authorization = `Bearer ${system.apiKey}`;
  const command = await fetch(`${system.commandUrl}/accounts`, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: JSON.stringify({
      accountId,
      customerId: `customer-${accountId}`,
      phone: "+447911123456",
      currency: "GBP",
      timeZone: "Europe/London",
      consents: { service: true, marketing: false },
    }),
  });
  const answer = (await command.json()) as { position?: string | null };
  const position = answer.position ?? null;
  const query = await fetch(`${system.queryUrl}/accounts/${accountId}`, {
    headers: { authorization, ...(position === null ? {} : { "x-min-position": position }) },
  });
  const account = (await query.json()) as { accountId?: string };
  return {
    accountId,
    commandStatus: command.status,
    position,
    queryStatus: query.status,
    visible: query.status === 200 && account.accountId === accountId,
  };
}

function compareReadModels(found: {
  readonly replicated: ReadonlyMap<string, ProjectionBuild>;
  readonly asFound: readonly LiveReadModelDigest[];
  readonly live: readonly LiveReadModelDigest[];
  readonly rebuild: RebuildReport;
  readonly fresh: ReadModelDigests;
  readonly replayedPosition: string;
}): ReadModelComparison[] {
  const P = found.replayedPosition;
  return allProjections.map(({ name }) => {
    const problems: string[] = [];
    const replicated = found.replicated.get(name);
    const asFound = found.asFound.find((entry) => entry.projection === name);
    const live = found.live.find((entry) => entry.projection === name);
    const swap = found.rebuild.results.find((result) => result.projection === name);
    const freshEntry = found.fresh.find((entry) => entry.projection === name);
    const fresh = freshEntry === undefined || "error" in freshEntry ? undefined : freshEntry;
    if (replicated === undefined) problems.push("no replicated live build");
    if (asFound !== undefined && replicated !== undefined && asFound.position !== replicated.position)
      problems.push(
        `recorded at ${asFound.position}, after the projector moved it from ${replicated.position}`,
      );
    if (live === undefined || live.build !== replicated?.buildSchema || live.position !== P)
      problems.push(
        `the replicated build was not digested at P (${live?.build ?? "?"} at ${live?.position ?? "?"})`,
      );
    if (swap === undefined) problems.push("rebuild: not reported");
    else if (swap.outcome === "failed") problems.push(`rebuild failed: ${swap.error}`);
    else if (swap.outcome === "stopped") problems.push("rebuild stopped");
    else {
      if (!swap.verifiedAgainstLive || swap.replaced !== replicated?.buildSchema)
        problems.push(
          `the rebuild did not compare with the replicated build (replaced ${swap.replaced ?? "none"})`,
        );
      if (swap.position !== P) problems.push(`rebuilt to ${swap.position}, not P`);
    }
    if (freshEntry !== undefined && "error" in freshEntry) problems.push(`verify: ${freshEntry.error}`);
    if (fresh === undefined) problems.push("verify: not reported");
    else {
      if (
        swap?.outcome === "swapped" &&
        (fresh.build !== swap.buildSchema || fresh.digest !== swap.digest.digest)
      )
        problems.push("verify saw another build or digest than the rebuild swapped in");
      if (fresh.position !== P) problems.push(`verified at ${fresh.position}, not P`);
    }
    if (live !== undefined && fresh !== undefined && live.digest !== fresh.digest)
      problems.push("digests differ");
    return {
      projection: name,
      replicatedBuild: replicated?.buildSchema ?? "?",
      checkpointAtPromotion: replicated?.position ?? "?",
      digestAsFound: asFound?.digest ?? "?",
      livePosition: live?.position ?? "?",
      liveDigest: live?.digest ?? "?",
      rebuiltBuild: fresh?.build ?? "?",
      rebuiltPosition: fresh?.position ?? "?",
      rebuiltDigest: fresh?.digest ?? "?",
      rows: fresh?.rows ?? {},
      equal: problems.length === 0,
      problem: problems.length === 0 ? null : problems.join("; "),
    };
  });
}

/** A step's result and how long it took. */
async function timed<T>(step: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await step();
  return { value, seconds: Math.round(performance.now() - started) / 1000 };
}

function checksOf(report: Omit<FailoverDrillReport, "checks" | "passed">): FailoverDrillReport["checks"] {
  const checks = [
    {
      name: "workload running at the kill",
      passed: report.workload.commandsAcknowledged > 0 && report.workload.inFlightAtKill > 0,
      detail: `${report.workload.commandsAcknowledged} commands acknowledged, ${report.workload.inFlightAtKill} in flight at the kill`,
    },
    {
      name: "read models: replicated = rebuilt at P",
      passed: report.readModels.every((model) => model.equal),
      detail: report.readModels
        .map((model) => `${model.projection} ${model.equal ? "equal" : (model.problem ?? "differs")}`)
        .join(", "),
    },
    {
      name: "new command accepted and visible after failover",
      passed:
        report.afterFailover.commandStatus >= 200 &&
        report.afterFailover.commandStatus < 300 &&
        report.afterFailover.visible,
      detail: `command ${report.afterFailover.commandStatus}, query ${report.afterFailover.queryStatus}`,
    },
  ];
  if (report.mode === "synchronous") {
    checks.push({
      name: "RPO 0 (synchronous replication)",
      passed: report.rpo.commandsLost === 0,
      detail: `${report.rpo.commandsLost} acknowledged commands lost`,
    });
  }
  return checks;
}

function describeDigests(digests: readonly (LiveReadModelDigest | ReadModelDigests[number])[]): string {
  return digests
    .map((entry) =>
      "error" in entry
        ? `${entry.projection} ${entry.error}`
        : `${entry.projection} ${entry.digest.slice(0, 12)} at ${entry.position}`,
    )
    .join(", ");
}
