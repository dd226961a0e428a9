import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { answerClientErrors } from "../http/answerClientErrors.ts";
import { ApiKeys, hashApiKey, type Scope } from "../http/ApiKeys.ts";
import { createCommandApi } from "../commands/api/createCommandApi.ts";
import { IdempotencyStore } from "../http/IdempotencyStore.ts";
import { BalanceImports } from "../commands/balances/BalanceImports.ts";
import { BalanceImportRunner } from "../commands/balances/BalanceImportRunner.ts";
import { startLiveRules } from "../commands/rules/LiveRules.ts";
import { loadTemplates } from "../commands/templates/loadTemplates.ts";
import type { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { openTestEventStore, type TestDatabase } from "./postgresTestDatabase.ts";

export interface TestCommandApi {
  readonly database: TestDatabase;
  readonly store: PostgresEventStore;
  readonly url: string;
  /** With `balanceImportDir`: what imports the files sent to `POST /balance-imports`. */
  readonly balanceImports?: { readonly runner: BalanceImportRunner; readonly imports: BalanceImports };
  close(): Promise<void>;
}

/**
 * The real command API on an ephemeral port, over real PostgreSQL in a schema of its own, with
 * the shipped rules and templates and a fixed clock (2026-11-24T09:00Z).
 */
export async function startTestCommandApi(
  keys: readonly { readonly name: string; readonly key: string; readonly scopes: readonly Scope[] }[],
  options: {
    readonly maxBodyBytes?: number;
    /** Offers `POST /balance-imports`, keeping the files sent here. */
    readonly balanceImportDir?: string;
    readonly balanceImportMaxBytes?: number;
  } = {},
): Promise<TestCommandApi> {
  const { database, store, dispose } = await openTestEventStore();
  const logger = pino({ level: "silent" });
  const idempotency = new IdempotencyStore(database.pool, database.schema, logger);
  await idempotency.migrate();
  const rules = await startLiveRules(store, { clock: () => Date.UTC(2026, 10, 24, 9), logger, pollMs: 100 });
  const clock = () => Date.UTC(2026, 10, 24, 9);
  const balanceImports =
    options.balanceImportDir === undefined
      ? undefined
      : await (async () => {
          const imports = new BalanceImports(database.pool, database.schema);
          await imports.migrate();
          const runner = new BalanceImportRunner({
            imports,
            store,
            rules,
            clock,
            directory: options.balanceImportDir ?? "",
            maxBytes: options.balanceImportMaxBytes ?? 1024 * 1024,
            logger,
          });
          return { imports, runner };
        })();
  const app = createCommandApi({
    store,
    idempotency,
    rateLimiter: new RateLimiterMemory({ points: 1_000_000, duration: 1 }),
    rules,
    templates: await loadTemplates(),
    apiKeys: new ApiKeys(keys.map(({ name, key, scopes }) => ({ name, sha256: hashApiKey(key), scopes }))),
    logger,
    clock,
    ...(balanceImports === undefined ? {} : { balanceImports }),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const server = app.listen(0, "127.0.0.1");
  answerClientErrors(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    database,
    store,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ...(balanceImports === undefined ? {} : { balanceImports }),
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await balanceImports?.runner.stop();
      rules.stop();
      await dispose();
    },
  };
}
