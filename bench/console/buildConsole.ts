import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const REPOSITORY_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VITE = fileURLToPath(new URL("../../node_modules/vite/bin/vite.js", import.meta.url));

/**
 * Builds the console as `npm run build:console` does (Vite, `console/vite.config.ts`, into
 * `console/dist`), so that the bundle measured and served is the source at hand, not an older build.
 * @throws Error when the build fails (its output is on stderr).
 */
export async function buildConsole(): Promise<void> {
  const child = spawn(
    process.execPath,
    [VITE, "build", "--config", "console/vite.config.ts", "--logLevel", "warn"],
    { cwd: REPOSITORY_ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`the console's build failed (vite exited with ${String(code)})`);
}
