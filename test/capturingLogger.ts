import pino, { type Logger } from "pino";

/**
 * A pino logger at every level whose lines' messages go to `onMessage`, for tests that assert
 * what a component logged.
 */
export function capturingLogger(onMessage: (message: string) => void): Logger {
  return pino(
    { level: "trace" },
    { write: (line: string) => onMessage((JSON.parse(line) as { readonly msg: string }).msg) },
  );
}
