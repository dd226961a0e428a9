import { readFile } from "node:fs/promises";
import {
  createBankingApiSimulator,
  type SimulatedBalance,
} from "../../gateways/banking/simulator/createBankingApiSimulator.ts";
import { createSmsProviderSimulator } from "../../gateways/sms/simulator/createSmsProviderSimulator.ts";
import { listen } from "./listen.ts";
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN, SIMULATOR_BANK_TOKEN } from "./simulatorDefaults.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The SMS provider and Banking API simulators, for manual use and the gateways' tests. */
export async function startSimulators({ config, stops, urls }: SystemContext): Promise<void> {
  const simulator = createSmsProviderSimulator({
    accountSid: SIMULATOR_ACCOUNT_SID,
    authToken: SIMULATOR_AUTH_TOKEN,
  });
  stops.unshift(() => Promise.resolve(simulator.close()));
  await listen(simulator.app, config.listenHost, config.smsSimulatorPort, stops);
  urls.smsSimulator = `http://127.0.0.1:${config.smsSimulatorPort}/2010-04-01/Accounts/${SIMULATOR_ACCOUNT_SID}/Messages.json`;
  // Every account answers 250.00 GBP until set (admin route or seed file), dated when the
  // simulator started (a day ago at most), so a balance pushed since is never replaced by it.
  const bank = createBankingApiSimulator({
    accessToken: SIMULATOR_BANK_TOKEN,
    unscripted: { amount: "250.00", currency: "GBP" },
    seed: await readBankingSeed(config.banking.simulatorSeedFile),
  });
  await listen(bank.app, config.listenHost, config.bankingSimulatorPort, stops);
  urls.bankingSimulator = `http://127.0.0.1:${config.bankingSimulatorPort}/accounts/{id}/balances`;
}

/**
 * The Banking API simulator's seed (BANKING_SIMULATOR_SEED_FILE): `{"<accountId>": [OB balances]}`.
 * A file that cannot be read or is not of that shape stops the start, naming it.
 */
async function readBankingSeed(
  file: string | undefined,
): Promise<Record<string, readonly SimulatedBalance[]> | undefined> {
  if (file === undefined) return undefined;
  let seed: unknown;
  try {
    seed = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    console.error(`config: BANKING_SIMULATOR_SEED_FILE ${file}: ${(error as Error).message}`);
    process.exit(1);
  }
  const valid =
    typeof seed === "object" &&
    seed !== null &&
    !Array.isArray(seed) &&
    Object.values(seed).every(
      (balances) =>
        Array.isArray(balances) &&
        balances.length > 0 &&
        balances.every((balance) => typeof balance === "object" && balance !== null),
    );
  if (!valid) {
    console.error(
      `config: BANKING_SIMULATOR_SEED_FILE ${file} must be a JSON object of account ids to non-empty arrays of OB balances`,
    );
    process.exit(1);
  }
  return seed as Record<string, readonly SimulatedBalance[]>;
}
