import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import test from "ava";
import pg from "pg";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { TEST_DATABASE_URL } from "../test/postgresTestDatabase.ts";
import { builtEntryPoint } from "./builtEntryPoint.ts";

const run = promisify(execFile);

/** Runs the CLI as a user would; resolves with its exit code and output whatever the code. */
async function eventLog(databaseUrl: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [...builtEntryPoint("eventLog"), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test("event-log CLI: export, verify, import into another database; a damaged archive exits 1 naming the line", async (t) => {
  t.timeout(120_000);
  const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
  const suffix = Math.random().toString(36).slice(2, 8);
  const [from, to] = [`tidemark_cli_from_${suffix}`, `tidemark_cli_to_${suffix}`];
  const url = (database: string) =>
    Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${database}` }).href;
  const work = await mkdtemp(join(tmpdir(), "tidemark-cli-"));
  try {
    await admin.query(`create database "${from}"`);
    await admin.query(`create database "${to}"`);
    const source = new pg.Pool({ connectionString: url(from), max: 1 });
    await PostgresEventStore.migrate(source);
    const store = new PostgresEventStore(source);
    for (let index = 0; index < 30; index += 1) {
      await store.append(`probe-${index % 7}`, "any", [
        {
          id: crypto.randomUUID(),
          type: "Probe",
          data: { index },
          metadata: { correlationId: "c", actor: "test" },
        },
      ]);
    }
    await store.close();
    await source.end();

    const archive = join(work, "archive");
    const exported = await eventLog(url(from), "export", archive, "--events-per-file", "10", "--json");
    t.is(exported.code, 0, exported.stderr);
    t.like(JSON.parse(exported.stdout), { complete: true, events: 30 });
    t.is((await eventLog(url(from), "verify", archive)).code, 0);
    const imported = await eventLog(url(to), "import", archive);
    t.is(imported.code, 0, imported.stderr);
    t.regex(imported.stdout, /imported 30 events of 7 streams from 3 files/);
    const again = await eventLog(url(to), "import", archive);
    t.is(again.code, 0, "the same archive again: every file already there");

    const file = join(archive, "events-000002.ndjson.gz");
    const lines = gunzipSync(await readFile(file))
      .toString("utf8")
      .split("\n");
    lines[3] = (lines[3] ?? "").replace('"Probe"', '"Prob3"');
    await writeFile(file, gzipSync(lines.join("\n")));
    const damaged = await eventLog(url(from), "verify", archive);
    t.is(damaged.code, 1);
    t.regex(damaged.stderr, /events-000002\.ndjson\.gz line 4: checksum mismatch/);
    const usage = await eventLog(url(from), "import");
    t.is(usage.code, 2);
  } finally {
    for (const database of [from, to]) {
      await admin
        .query(`drop database if exists "${database}" with (force)`)
        .catch((error: unknown) => t.log(`database ${database} left behind: ${String(error)}`));
    }
    await admin.end();
    await rm(work, { recursive: true, force: true });
  }
});
