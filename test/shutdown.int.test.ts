import { once } from "node:events";
import test from "ava";
import { createEmbeddedDataDir } from "./embeddedDataDir.ts";
import { freePort, openAccount, startSystemProcess } from "./systemProcess.ts";

test("Ctrl-C on npm start (embedded default): every role stops before the database, exit status 0, nothing on stderr", async (t) => {
  t.timeout(120_000);
  const dataDir = await createEmbeddedDataDir("shutdown");
  try {
    const system = await startSystemProcess({
      env: {
        TIDEMARK_DATA_DIR: dataDir.path,
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
        SMS_SIMULATOR_PORT: String(await freePort()),
        BANKING_SIMULATOR_PORT: String(await freePort()),
      },
    });
    await openAccount(system, "shutdown-1", "+447911123456");
    // Running, not starting: the projector has built the read models and shows the account.
    for (let waited = 0; waited < 30_000; waited += 200) {
      const answer = await fetch(`${system.queryUrl}/accounts/shutdown-1`, {
        headers: { authorization: `Bearer ${system.apiKey}` },
      });
      if (answer.ok) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const exited = once(system.child, "exit");
    // A terminal's Ctrl-C may reach the process twice: from the terminal and relayed by a launcher
    // (tsx does; npm start, which runs node itself, does not).
    system.child.kill("SIGINT");
    system.child.kill("SIGINT");
    const [code] = (await exited) as [number | null];
    const problems = system.output.filter((line) => !line.startsWith("{") || /"level":(40|50|60)/.test(line));
    t.is(code, 0, system.output.slice(-20).join("\n"));
    t.deepEqual(problems, [], "no warning, error or stray output while stopping");
  } finally {
    await dataDir.dispose();
  }
});

test("Ctrl-C in a terminal (the whole process group signalled): the roles stop before the embedded database, exit status 0", async (t) => {
  t.timeout(120_000);
  const dataDir = await createEmbeddedDataDir("shutdown-group");
  try {
    const system = await startSystemProcess({
      // Debug: the embedded PostgreSQL's own log lines show when it was asked to shut down.
      env: { TIDEMARK_DATA_DIR: dataDir.path, LOG_LEVEL: "debug" },
      processGroup: true,
    });
    await openAccount(system, "shutdown-2", "+447911123456");
    for (let waited = 0; waited < 30_000; waited += 200) {
      const answer = await fetch(`${system.queryUrl}/accounts/shutdown-2`, {
        headers: { authorization: `Bearer ${system.apiKey}` },
      });
      if (answer.ok) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const exited = once(system.child, "exit");
    const pid = system.child.pid;
    if (pid === undefined) throw new Error("the system process has no pid");
    // A terminal's Ctrl-C signals its foreground process group (this process and whatever it
    // started in the group), and a launcher (tsx) may relay it to the process once more.
    process.kill(-pid, "SIGINT");
    system.child.kill("SIGINT");
    const [code] = (await exited) as [number | null];
    const lines = system.output;
    const problems = lines.filter((line) => !line.startsWith("{") || /"level":(40|50|60)/.test(line));
    t.is(code, 0, lines.slice(-20).join("\n"));
    t.deepEqual(problems, [], "no warning, error or stray output while stopping");
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
    const order = [
      at(/"msg":"stopping"/),
      at(/"msg":"stopping the embedded PostgreSQL"/),
      at(/received fast shutdown request/),
      at(/"msg":"embedded PostgreSQL stopped"/),
    ];
    t.true(
      order.every((index, i) => index >= 0 && (i === 0 || index > (order[i - 1] ?? -1))),
      `signal → roles stopped → database asked to stop → database stopped, in that order: lines ${order.join(", ")}`,
    );
  } finally {
    await dataDir.dispose();
  }
});
