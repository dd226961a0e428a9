import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";

/**
 * Seconds for psql's \copy of `csv` into `table` (`"schema".name`), created afresh as a plain
 * table: the server's COPY, fed by psql. Dropping and creating the table are not timed.
 */
export async function copyBalanceRows(databaseUrl: string, table: string, csv: string): Promise<number> {
  const psql = (command: string) =>
    promisify(execFile)("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-c", command]);
  await psql(`drop table if exists ${table}`);
  await psql(
    `create table ${table} (account_id text not null, amount numeric not null, currency text not null, balance_type text not null, reference_time timestamptz not null)`,
  );
  const startedAt = performance.now();
  await psql(`\\copy ${table} from '${csv}' with (format csv, header true)`);
  return (performance.now() - startedAt) / 1000;
}
