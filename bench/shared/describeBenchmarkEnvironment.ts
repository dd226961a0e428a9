import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import type { BenchmarkDatabaseAdmin } from "./BenchmarkDatabaseAdmin.ts";
import type { BenchmarkEnvironment } from "../eventstore/formatEventStoreReport.ts";

const REPOSITORY_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The machine, server, code and library versions a report was measured on. */
export async function describeBenchmarkEnvironment(
  admin: BenchmarkDatabaseAdmin,
): Promise<BenchmarkEnvironment> {
  const cpus = os.cpus();
  const memoryGiB = Math.round(os.totalmem() / 2 ** 30);
  return {
    startedAt: new Date(),
    machine: `${cpus.length} cores (${cpus[0]?.model ?? "unknown CPU"}), ${memoryGiB} GiB RAM, ${os.type()} ${os.release()}`,
    nodeVersion: process.version,
    server: await admin.describeServer(),
    code: describeCommit(),
    emmettVersion: packageVersion("@event-driven-io/emmett-postgresql"),
  };
}

function describeCommit(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, {
        cwd: REPOSITORY_ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    const commit = git("rev-parse", "--short", "HEAD").trim();
    // The store under test lives in gateways/; changes elsewhere (this benchmark) do not matter.
    const storeChanged = git("status", "--porcelain", "--", "gateways").trim() !== "";
    return `${commit}${storeChanged ? " + uncommitted changes in gateways/" : " (gateways/ as committed)"}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

function packageVersion(name: string): string {
  try {
    // The package's exports map hides package.json from import.meta.resolve, so read the file.
    const manifest: unknown = JSON.parse(
      readFileSync(`${REPOSITORY_ROOT}node_modules/${name}/package.json`, "utf8"),
    );
    const version = (manifest as { version?: unknown }).version;
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
}
