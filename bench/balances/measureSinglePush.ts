import type pg from "pg";
import { BENCH_WRITER_KEY } from "../projections/ProjectionsBenchmarkServerRequest.ts";
import { startProjectionsBenchmarkServer } from "../projections/startProjectionsBenchmarkServer.ts";
import { countRecordedBalances } from "./countRecordedBalances.ts";
import { peakRssOfProcess } from "./peakRssOfProcess.ts";
import { pushBalanceFileRows } from "./pushBalanceFileRows.ts";

// As bin/runSystem.ts sizes the command API's pool.
const COMMAND_POOL_SIZE = 20;

/** Where the single pushes go: a log of their own, its accounts opened as the import's are. */
export interface SinglePushTarget {
  readonly databaseUrl: string;
  /** For the count of the balances recorded, after the pushes. */
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly connections: number;
}

/** One single-push run: seconds until every pushed row is answered, the server's peak RSS. */
export interface SinglePushRun {
  readonly rows: number;
  readonly seconds: number;
  /** The command API process's high-water mark once it listened, before any push; undefined off Linux. */
  readonly serverReadyRssMb: number | undefined;
  /** Its high-water mark after the last push (start-up included); undefined off Linux. */
  readonly serverPeakRssMb: number | undefined;
}

/**
 * Starts the command API in a process of its own over `target.schema` (the projections
 * benchmark's server: `createCommandApi` wired as `npm start -- command-api` wires it), pushes the
 * file's first `rows` rows to it one at a time, and stops it.
 * @throws Error when a push is not recorded, or the log then holds another count of the file's
 * balances than `rows`.
 */
export async function measureSinglePush(
  target: SinglePushTarget,
  file: string,
  rows: number,
  referenceTime: string,
  progress: (message: string) => void,
): Promise<SinglePushRun> {
  const server = await startProjectionsBenchmarkServer({
    role: "commands",
    databaseUrl: target.databaseUrl,
    prefix: target.schema,
    commandPoolSize: COMMAND_POOL_SIZE,
    projectorPoolSize: undefined,
  });
  let seconds: number;
  let serverPeakRssMb: number | undefined;
  const serverReadyRssMb = await peakRssOfProcess(server.pid);
  try {
    const startedAt = Date.now();
    seconds = await pushBalanceFileRows({
      url: server.url,
      apiKey: BENCH_WRITER_KEY,
      file,
      rows,
      connections: target.connections,
      onPushed: (pushed) => {
        if (pushed % 50_000 !== 0) return;
        const rate = Math.round(pushed / ((Date.now() - startedAt) / 1000));
        progress(`  pushed ${pushed} of ${rows} rows (${rate} rows/s)`);
      },
    });
    serverPeakRssMb = await peakRssOfProcess(server.pid);
  } finally {
    await server.stop();
  }
  const recorded = await countRecordedBalances(target.pool, target.schema, referenceTime);
  if (recorded !== rows) {
    throw new Error(`the single pushes left ${recorded} of ${rows} balances recorded in ${target.schema}`);
  }
  return { rows, seconds, serverReadyRssMb, serverPeakRssMb };
}
