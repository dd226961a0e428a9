import type { FailoverDrillReport } from "./failoverDrill.ts";
import { textTable } from "../textTable.ts";

/**
 * The drills' reports as text: one column per drill (RPO, RTO and its parts, the workload), then
 * per drill the read models with C, P and the digests (their first 16 hex digits; `--json` has
 * them whole), then the checks.
 */
export function formatDrillReport(reports: readonly FailoverDrillReport[]): string {
  const number = (value: number) => value.toLocaleString("en");
  const s = (value: number) => value.toFixed(2);
  const rows: [string, (report: FailoverDrillReport) => string][] = [
    ["events preloaded", (r) => number(r.eventsPreloaded)],
    ["WAL delay on the replication link", (r) => `${r.linkDelayMs} ms`],
    ["workload seconds", (r) => r.workload.seconds.toFixed(1)],
    [
      "commands acknowledged",
      (r) => `${number(r.workload.commandsAcknowledged)} (${number(r.workload.commandsPerSecond)}/s)`,
    ],
    ["events acknowledged", (r) => number(r.workload.eventsAcknowledged)],
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
          : `flush ${number(r.standbyLagBeforeKill.flushBytes)} B, replay ${number(r.standbyLagBeforeKill.replayBytes)} B`,
    ],
    ["RPO: acknowledged commands lost", (r) => number(r.rpo.commandsLost)],
    ["RPO: their events", (r) => number(r.rpo.eventsLost)],
    ["RPO: seconds of data lost", (r) => r.rpo.secondsLost.toFixed(3)],
    ["RTO: seconds, kill to served", (r) => s(r.rto.seconds)],
    ["  kill (pg_ctl stop -m immediate)", (r) => s(r.rto.kill)],
    ["  promote", (r) => s(r.rto.promote)],
    ["  system start", (r) => s(r.rto.systemStart)],
    ["  rebuild + verify", (r) => s(r.rto.rebuildAndVerify)],
    ["    projector brings replicated to P", (r) => s(r.rto.rebuildAndVerifyParts.catchUp)],
    ["    rebuild --all (fill, compare, swap)", (r) => s(r.rto.rebuildAndVerifyParts.rebuild)],
    ["    verify --all", (r) => s(r.rto.rebuildAndVerifyParts.verify)],
    ["  first command + query", (r) => s(r.rto.firstCommandAndQuery)],
    ["  alongside: record as found", (r) => s(r.rto.alongside.recordAsFound)],
    ["  alongside: digest replicated at P", (r) => s(r.rto.alongside.digestReplicatedAtP)],
    [
      "rebuild (replay from zero)",
      (r) =>
        `${number(r.rebuild.eventsRead)} events, ${r.rebuild.seconds.toFixed(1)} s, ${number(r.rebuild.eventsPerSecond)}/s`,
    ],
    ["events in the promoted log", (r) => number(r.eventsInPromotedLog)],
    ["P: end of the replayed log", (r) => r.replayedPosition],
    [
      "after failover",
      (r) =>
        `command ${r.afterFailover.commandStatus}, query ${r.afterFailover.queryStatus}${r.afterFailover.visible ? ", visible" : ", NOT visible"}`,
    ],
    ["checks", (r) => (r.passed ? "PASS" : "FAIL")],
  ];
  const lines = [
    "Failover drill",
    ...textTable(
      ["", ...reports.map((report) => report.mode)],
      rows.map(([label, cell]) => [label, ...reports.map(cell)]),
    ),
  ];
  for (const report of reports) {
    lines.push(
      "",
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
    );
    if (report.rpo.examples.length > 0) lines.push(`lost, for example: ${report.rpo.examples.join(", ")}`);
  }
  return lines.join("\n");
}
