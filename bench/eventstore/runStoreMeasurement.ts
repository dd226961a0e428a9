import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { StoreMeasurementReply, StoreMeasurementRequest } from "./StoreMeasurement.ts";

const CHILD_ENTRY = fileURLToPath(new URL("./measureStoreInChildProcess.ts", import.meta.url));

/**
 * Runs one measurement in a child process of its own (see measureStoreInChildProcess.ts) and
 * resolves with its result.
 * @throws Error carrying the child's message when the measurement failed or the child died.
 */
export function runStoreMeasurement(request: StoreMeasurementRequest): Promise<StoreMeasurementReply> {
  return new Promise((resolve, reject) => {
    // fork() reuses this process's execArgv, so the child loads TypeScript through tsx too.
    const child = fork(CHILD_ENTRY, [JSON.stringify(request)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let reply: StoreMeasurementReply | undefined;
    child.on("message", (message) => (reply = message as StoreMeasurementReply));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const what = `${request.system} ${request.task.kind}`;
      if (reply === undefined) {
        reject(new Error(`${what}: child process ended (${signal ?? `exit ${code}`}) without a result`));
      } else if (reply.kind === "failed") {
        reject(new Error(`${what} failed: ${reply.message}`));
      } else {
        resolve(reply);
      }
    });
  });
}
