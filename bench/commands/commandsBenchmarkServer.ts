/**
 * The server side of `npm run bench -- commands`, run in its own process so that the load
 * generator does not share its event loop: `tidemark` serves the real command API; `bare` serves
 * the limit, a bare Koa handler doing the same single INSERT per request. Prints "ready <port>".
 */
import { bodyParser } from "@koa/bodyparser";
import Koa from "koa";
import pg from "pg";
import { pino } from "pino";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { ApiKeys, hashApiKey } from "../../http/ApiKeys.ts";
import { createCommandApi } from "../../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../../http/IdempotencyStore.ts";
import { startLiveRules } from "../../commands/rules/LiveRules.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import { PostgresEventStore } from "../../gateways/eventStore/postgres/PostgresEventStore.ts";
import { traceRequests } from "../../gateways/observability/traceContext.ts";
import { BENCH_API_KEY, BENCH_SCHEMA } from "./commandsBenchmarkSettings.ts";

async function main(mode: string, databaseUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  let app: Koa;
  if (mode === "bare") {
    app = new Koa();
    app.use(bodyParser({ enableTypes: ["json"] }));
    app.use(async (ctx) => {
      const { rows } = await pool.query<{ id: string }>(
        `insert into "${BENCH_SCHEMA}".bare_balances (account_id, data) values ($1, $2) returning id`,
        [ctx.path, JSON.stringify(ctx.request.body)],
      );
      ctx.status = 202;
      ctx.body = { id: rows[0]?.id };
    });
  } else {
    const logger = pino({ level: "error" });
    const idempotency = new IdempotencyStore(pool, BENCH_SCHEMA, logger);
    const store = new PostgresEventStore(pool, { schema: BENCH_SCHEMA });
    app = createCommandApi({
      store,
      idempotency,
      rateLimiter: new RateLimiterMemory({ points: 10_000_000, duration: 1 }),
      rules: await startLiveRules(store, { clock: Date.now, logger }),
      templates: await loadTemplates(),
      apiKeys: new ApiKeys([{ name: "bench", sha256: hashApiKey(BENCH_API_KEY), scopes: ["admin"] }]),
      logger,
      clock: Date.now,
    });
  }
  // As bin/runSystem.ts serves it: a server span per request (a no-op unless tracing is on).
  if (mode !== "bare") app.middleware.unshift(traceRequests("command-api"));
  const server = app.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`ready ${typeof address === "object" && address !== null ? address.port : 0}\n`);
  });
  process.on("SIGTERM", () => {
    server.close();
    void pool.end().then(() => process.exit(0));
  });
}

const [mode = "tidemark", databaseUrl = ""] = process.argv.slice(2);
await main(mode, databaseUrl);
