import type { FailoverDrillReport } from "./failoverDrill.ts";
import { textTable } from "../textTable.ts";

const formatCount = (value: number) => value.toLocaleString("en");
const formatSeconds = (value: number) => value.toFixed(2);

/** The summary table: one row per label, one cell per drill. */
const SUMMARY_ROWS: readonly [string, (report: FailoverDrillReport) => string][] = [
  ["events preloaded", (r) => formatCount(r.eventsPreloaded)],
  ["WAL delay on the replication link", (r) => `${r.linkDelayMs} ms`],
  ["workload seconds", (r) => r.workload.seconds.toFixed(1)],
  [
    "commands acknowledged",
    (r) => `${formatCount(r.workload.commandsAcknowledged)} (${formatCount(r.workload.commandsPerSecond)}/s)`,
  ],
  ["events acknowledged", (r) => formatCount(r.workload.eventsAcknowledged)],
  ["requests in flight at the kill", (r) => String(r.workload.inFlightAtKill)],
  ["acknowledged while the kill ran", (r) => String(r.workload.acknowledgedAfterKillIssued)],
  ["last acknowledged, before down", (r) => `${r.workload.lastAcknowledgedBeforePrimaryDown.toFixed(3)} s`],
  [
    "not acknowledged",
    (r) =>
      Object.entries(r.workload.commandsFailed)
        .map(([reason, count]) => `${count} ${reason}`)
        .join(", ") || "0",
  ],
  [
    "standby behind before the kill",
    (r) =>
      r.standbyLagBeforeKill === null
        ? "?"
        : `flush ${formatCount(r.standbyLagBeforeKill.flushBytes)} B, replay ${formatCount(r.standbyLagBeforeKill.replayBytes)} B`,
  ],
  ["RPO: acknowledged commands lost", (r) => formatCount(r.rpo.commandsLost)],
  ["RPO: their events", (r) => formatCount(r.rpo.eventsLost)],
  ["RPO: seconds of data lost", (r) => r.rpo.secondsLost.toFixed(3)],
  ["RTO: seconds, kill to served", (r) => formatSeconds(r.rto.seconds)],
  ["  kill (pg_ctl stop -m immediate)", (r) => formatSeconds(r.rto.kill)],
  ["  promote", (r) => formatSeconds(r.rto.promote)],
  ["  system start", (r) => formatSeconds(r.rto.systemStart)],
  ["  rebuild + verify", (r) => formatSeconds(r.rto.rebuildAndVerify)],
  ["    projector brings replicated to P", (r) => formatSeconds(r.rto.rebuildAndVerifyParts.catchUp)],
  ["    rebuild --all (fill, compare, swap)", (r) => formatSeconds(r.rto.rebuildAndVerifyParts.rebuild)],
  ["    verify --all", (r) => formatSeconds(r.rto.rebuildAndVerifyParts.verify)],
  ["  first command + query", (r) => formatSeconds(r.rto.firstCommandAndQuery)],
  ["  alongside: record as found", (r) => formatSeconds(r.rto.alongside.recordAsFound)],
  ["  alongside: digest replicated at P", (r) => formatSeconds(r.rto.alongside.digestReplicatedAtP)],
  [
    "rebuild (replay from zero)",
    (r) =>
      `${formatCount(r.rebuild.eventsRead)} events, ${r.rebuild.seconds.toFixed(1)} s, ${formatCount(r.rebuild.eventsPerSecond)}/s`,
  ],
  ["events in the promoted log", (r) => formatCount(r.eventsInPromotedLog)],
  ["P: end of the replayed log", (r) => r.replayedPosition],
  [
    "after failover",
    (r) =>
      `command ${r.afterFailover.commandStatus}, query ${r.afterFailover.queryStatus}${r.afterFailover.visible ? ", visible" : ", NOT visible"}`,
  ],
  ["checks", (r) => (r.passed ? "PASS" : "FAIL")],
];

/**
 * The drills' reports as text: one column per drill (RPO, RTO and its parts, the workload), then
 * per drill the read models with C, P and the digests (their first 16 hex digits; `--json` has
 * them whole), then the checks.
 */
export function formatDrillReport(reports: readonly FailoverDrillReport[]): string {
  const lines = [
    "Failover drill",
    ...textTable(
      ["", ...reports.map((report) => report.mode)],
      SUMMARY_ROWS.map(([label, cell]) => [label, ...reports.map(cell)]),
    ),
  ];
  for (const report of reports) lines.push("", ...drillDetails(report));
  return lines.join("\n");
}

/** One drill's read models (C, P, digests' first 16 hex digits), its checks and lost examples. */
function drillDetails(report: FailoverDrillReport): string[] {
  const lines = [
    `${report.mode}: read models (C: checkpoint as replicated at promotion; P: end of the replayed log; digests' first 16 hex digits)`,
    ...textTable(
      ["read model", "C", "as found at C", "replicated at P", "rebuilt at P", "equal", "rows"],
      report.readModels.map((model) => [
        model.projection,
        model.checkpointAtPromotion,
        model.digestAsFound.slice(0, 16),
        model.liveDigest.slice(0, 16),
        model.rebuiltDigest.slice(0, 16),
        model.equal ? "yes" : `NO: ${model.problem ?? ""}`,
        Object.entries(model.rows)
          .map(([table, count]) => `${table} ${count}`)
          .join(", "),
      ]),
    ),
    ...report.checks.map((check) => `${check.passed ? "pass" : "FAIL"}  ${check.name}: ${check.detail}`),
  ];
  if (report.rpo.examples.length > 0) lines.push(`lost, for example: ${report.rpo.examples.join(", ")}`);
  return lines;
}
