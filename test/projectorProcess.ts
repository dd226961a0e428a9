/**
 * The projector role alone, over a test schema: what the crash test starts and kills.
 * Usage: tsx test/projectorProcess.ts <schema>. Prints "running" once it has started, then a
 * line per progress report (throttled), so the parent knows it is consuming.
 */
import pino from "pino";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { allProjections } from "../projections/allProjections.ts";
import { projectionSchemas } from "../projections/runtime/ProjectionBuilds.ts";
import { runProjector } from "../projections/runtime/runProjector.ts";
import { TEST_DATABASE_URL } from "./postgresTestDatabase.ts";

const schema = process.argv[2];
if (schema === undefined) throw new Error("usage: projectorProcess.ts <schema>");
const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 12 });
const store = new PostgresEventStore(pool, { schema });
const controller = new AbortController();
process.once("SIGTERM", () => controller.abort());
let lastLine = 0;
console.log("running");
await runProjector({
  pool,
  db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
  store,
  schemas: projectionSchemas(schema),
  projections: allProjections,
  signal: controller.signal,
  onProgress: (progress) => {
    if (Date.now() - lastLine < 50) return;
    lastLine = Date.now();
    console.log(`${progress.projection} ${progress.position}`);
  },
  logger: pino({ level: "info" }, pino.destination(2)),
});
await store.close();
await pool.end();
