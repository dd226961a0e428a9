import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import test from "ava";
import { measurePgbenchRate } from "./measurePgbenchRate.ts";

/** Runs `measurePgbenchRate` against a stand-in pgbench that prints `output` and exits with `code`. */
async function withFakePgbench(output: string, code: number) {
  const directory = await mkdtemp(join(tmpdir(), "fake-pgbench-"));
  const script = join(directory, "pgbench");
  await writeFile(script, `#!/bin/sh\ncat <<'OUT'\n${output}\nOUT\nexit ${code}\n`);
  await chmod(script, 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${directory}${delimiter}${path ?? ""}`;
  try {
    return await measurePgbenchRate({
      databaseUrl: "postgres://u:p@127.0.0.1:5432/db",
      scriptPath: "script.sql",
      clients: 64,
      seconds: 1,
    });
  } finally {
    process.env.PATH = path;
    await rm(directory, { recursive: true, force: true });
  }
}

test.serial(
  "a run that completed nothing (a 1 s warm-up at 64 clients) is an outcome, not a crash",
  async (t) => {
    const outcome = await withFakePgbench(
      "number of clients: 64\nnumber of transactions actually processed: 0\nnumber of failed transactions: 0 (NaN%)",
      0,
    );
    t.is(outcome.kind, "nothing completed");
  },
);

test.serial("a measured run gives its rate", async (t) => {
  const outcome = await withFakePgbench(
    "number of transactions actually processed: 1790\nnumber of failed transactions: 0 (0.000%)\ntps = 1789.5 (without initial connection time)",
    0,
  );
  t.deepEqual(outcome, { kind: "measured", transactionsPerSecond: 1789.5 });
});

test.serial("pgbench failing is an error with its output", async (t) => {
  await t.throwsAsync(withFakePgbench("connection refused", 2), {
    message: /failed \(exit 2\):\nconnection refused/,
  });
});
