import { parseRulesetDocument, RulesFileError } from "../../commands/rules/loadRules.ts";
import type { Rule } from "../../domain/rules/Rule.ts";
import { DemoStopped, type DemoClient } from "./DemoClient.ts";

/**
 * The rules in force in the running system, as its query API serves them: the newest version's
 * document (`GET /rules/versions`, then `/rules/versions/{version}`), validated as the system
 * validates a rule set. Not the rules file: once a version has been published through the API,
 * the file no longer says what the system decides with.
 */
export async function rulesInForce(client: DemoClient): Promise<readonly Rule[]> {
  const list = await client.query("/rules/versions");
  const versions = (list.body as { versions?: { version?: unknown }[] } | undefined)?.versions;
  const newest = versions?.[0]?.version;
  if (list.status !== 200 || typeof newest !== "number") {
    throw new DemoStopped(
      "failed",
      `GET /rules/versions answered ${list.status} without a rule set version: no rules to play against`,
    );
  }
  const version = await client.query(`/rules/versions/${newest}`);
  const document = (version.body as { document?: unknown } | undefined)?.document;
  if (version.status !== 200 || document === undefined) {
    throw new DemoStopped("failed", `GET /rules/versions/${newest} answered ${version.status}`);
  }
  try {
    return parseRulesetDocument(`rule set version ${newest}`, document).rules;
  } catch (error) {
    if (!(error instanceof RulesFileError)) throw error;
    throw new DemoStopped("failed", `rule set version ${newest} does not validate: ${error.message}`);
  }
}
