import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPOSITORY_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Whether the code a benchmark measures differs from the commit: "as committed", or the paths
 * with uncommitted changes. `describeBenchmarkEnvironment` only looks at gateways/; a benchmark of
 * the read side depends on more.
 */
export function describeWorkingTree(paths: readonly string[]): string {
  try {
    const changed = execFileSync("git", ["status", "--porcelain", "--", ...paths], {
      cwd: REPOSITORY_ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
      .split("\n")
      .map((line) => line.slice(3).trim())
      .filter((path) => path !== "");
    return changed.length === 0
      ? `${paths.join(", ")} as committed`
      : `uncommitted changes in ${changed.join(", ")}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}
