import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { hashApiKey, type ApiKeyEntry } from "../../http/ApiKeys.ts";
import type { Config } from "../loadConfig.ts";

/**
 * Only in the embedded default with no key configured: a random admin key, printed once and
 * written to `<data dir>/dev-api-key` (mode 600) so that the quick start works out of the box.
 */
export async function createDevApiKey(database: Config["database"], logger: Logger): Promise<ApiKeyEntry[]> {
  if (database.kind !== "embedded") throw new Error("API keys are required outside the embedded default");
  const key = `tm_dev_${randomBytes(24).toString("hex")}`;
  const file = path.resolve(database.dataDir, "dev-api-key");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  logger.warn({ file }, "no TIDEMARK_API_KEYS: generated a development admin key (embedded default only)");
  console.error(`Development admin API key (also in ${file}): ${key}`);
  return [{ name: "dev-admin", sha256: hashApiKey(key), scopes: ["admin"] }];
}
