import { existsSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { runFailoverDrill } from "./failoverDrill.ts";
import { formatDrillReport } from "./formatDrillReport.ts";
import { POSTGRES_BIN_DIRECTORY } from "./PostgresCluster.ts";

// One after the other: each drill runs two PostgreSQL servers and two Tidemark processes.
for (const mode of ["synchronous", "asynchronous"] as const) {
  test.serial(
    `failover drill, ${mode} replication: primary killed under load, replica promoted, read models replayed and equal, commands served again`,
    async (t) => {
      t.timeout(120_000);
      if (!existsSync(join(POSTGRES_BIN_DIRECTORY, "pg_ctl"))) {
        t.fail(
          `no PostgreSQL server binaries in ${POSTGRES_BIN_DIRECTORY} (npm run services installs them; POSTGRES_BIN_DIR points elsewhere)`,
        );
        return;
      }
      const report = await runFailoverDrill({ mode, events: 20_000, workloadSeconds: 3 });
      t.log(formatDrillReport([report]));

      t.true(report.workload.commandsAcknowledged > 0, "the workload was acknowledged commands");
      t.true(report.workload.inFlightAtKill > 0, "requests were in flight at the kill");
      if (mode === "synchronous") {
        t.is(report.rpo.commandsLost, 0, "no acknowledged command lost with synchronous replication");
        t.is(report.rpo.eventsLost, 0);
      }
      for (const model of report.readModels) {
        t.true(model.equal, `${model.projection}: ${model.problem ?? ""}`);
        t.is(
          model.liveDigest,
          model.rebuiltDigest,
          `${model.projection}: replicated and rebuilt digests at P`,
        );
        t.is(model.rebuiltPosition, report.replayedPosition);
      }
      t.true(report.afterFailover.commandStatus >= 200 && report.afterFailover.commandStatus < 300);
      t.is(report.afterFailover.queryStatus, 200);
      t.true(report.afterFailover.visible, "the new command is visible through the query API");
      t.true(report.rto.seconds > 0, "RTO measured");
      t.true(report.passed, JSON.stringify(report.checks));
      t.log(
        `${mode}: RPO ${report.rpo.commandsLost} commands (${report.rpo.eventsLost} events), RTO ${report.rto.seconds.toFixed(2)} s`,
      );
    },
  );
}
