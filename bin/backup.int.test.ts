import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import anyTest, { type TestFn } from "ava";
import pg from "pg";
import { loadRules } from "../commands/rules/loadRules.ts";
import { PostgresEventStore } from "../gateways/eventStore/postgres/PostgresEventStore.ts";
import { generateEventLog } from "../test/generateEventLog.ts";
import { startLocalS3Server, type LocalS3Server } from "../test/localS3Server.ts";
import { TEST_DATABASE_URL } from "../test/postgresTestDatabase.ts";
import { freePort } from "../test/systemProcess.ts";
import { builtEntryPoint } from "./builtEntryPoint.ts";

const run = promisify(execFile);
const BUCKET = "tidemark-backups";

type Context = { server: LocalS3Server; admin: pg.Pool; databases: string[] };
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  t.context.server = await startLocalS3Server([BUCKET]);
  t.context.admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
  // An idle connection the server ends (a database dropped with force, a restart) is discarded,
  // not an uncaught exception that takes the whole file down; a query on it still fails the test.
  t.context.admin.on("error", () => undefined);
  t.context.databases = [];
});

test.after.always(async (t) => {
  try {
    for (const database of t.context.databases) {
      await t.context.admin
        .query(`drop database if exists "${database}" with (force)`)
        .catch((error: unknown) => t.log(`database ${database} left behind: ${String(error)}`));
    }
  } finally {
    // Whatever the drops came to: an open connection or server would keep the worker from exiting.
    await t.context.admin.end();
    await t.context.server.close();
  }
});

/** A new, empty database on the test server; dropped after the tests. */
async function createDatabase(t: { context: Context }, purpose: string): Promise<string> {
  const name = `tidemark_backup_${purpose}_${randomBytes(4).toString("hex")}`;
  await t.context.admin.query(`create database "${name}"`);
  t.context.databases.push(name);
  return Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${name}` }).href;
}

/** Runs a CLI as a user would; resolves with its exit code and output whatever the code. */
async function cli(entryPoint: string, env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [...builtEntryPoint(entryPoint), ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        // The SDK's notice that its 2027 releases need Node 22 is not ours to test.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function storageEnv(server: LocalS3Server, prefix: string): Record<string, string> {
  return {
    BACKUP_S3_ENDPOINT: server.endpoint,
    BACKUP_S3_BUCKET: BUCKET,
    BACKUP_S3_PREFIX: prefix,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  };
}

/** `npm run projections -- rebuild --all` on `databaseUrl`: each read model's digest. */
async function rebuildAll(t: { is: (a: unknown, b: unknown, m?: string) => void }, databaseUrl: string) {
  const rebuilt = await cli("projections", { DATABASE_URL: databaseUrl }, "rebuild", "--all", "--json");
  t.is(rebuilt.code, 0, rebuilt.stderr);
  const { results } = JSON.parse(rebuilt.stdout) as {
    results: { projection: string; outcome: string; digest?: { digest: string } }[];
  };
  return new Map(results.map((result) => [result.projection, result.digest?.digest ?? result.outcome]));
}

test("backup create → restore latest into a new database → rebuild: every read model's digest equals the source's", async (t) => {
  t.timeout(240_000);
  const sourceUrl = await createDatabase(t, "source");
  const source = new pg.Pool({ connectionString: sourceUrl, max: 8 });
  source.on("error", () => undefined);
  try {
    await PostgresEventStore.migrate(source);
    const store = new PostgresEventStore(source);
    const events = await generateEventLog(
      store,
      { accounts: 150, events: 3_000, seed: 7 },
      await loadRules(),
    );
    await store.close();

    const storage = storageEnv(t.context.server, `e2e-${randomBytes(3).toString("hex")}`);
    const created = await cli("backup", { DATABASE_URL: sourceUrl, ...storage }, "create", "--json");
    t.is(created.code, 0, created.stderr);
    const backup = JSON.parse(created.stdout) as { id: string; events: number; bytes: number };
    t.is(backup.events, events);
    t.true(backup.bytes > 0);

    const listed = await cli("backup", storage, "list");
    t.is(listed.code, 0, listed.stderr);
    t.regex(listed.stdout, new RegExp(`^${backup.id}\\s+\\S+\\s+${events.toLocaleString("en")}\\s`, "m"));

    const targetUrl = await createDatabase(t, "target");
    const restored = await cli("backup", { DATABASE_URL: targetUrl, ...storage }, "restore", "latest");
    t.is(restored.code, 0, restored.stderr);
    t.regex(
      restored.stdout,
      new RegExp(`restored backup ${backup.id} .*: ${events.toLocaleString("en")} events`),
    );
    t.regex(restored.stdout, /npm run projections -- rebuild --all/);

    const expected = await rebuildAll(t, sourceUrl);
    const actual = await rebuildAll(t, targetUrl);
    t.true(expected.size >= 4);
    t.deepEqual(actual, expected);

    // A different backup into the now full store is refused by the import, in one line.
    const second = await cli("backup", { DATABASE_URL: sourceUrl, ...storage }, "create", "--json");
    t.is(second.code, 0, second.stderr);
    const refused = await cli("backup", { DATABASE_URL: targetUrl, ...storage }, "restore", "latest");
    t.is(refused.code, 1);
    t.regex(refused.stderr, /^backup: .*already holds an import of archive .*; import into an empty store$/m);

    const pruned = await cli("backup", storage, "prune", "--keep", "1", "--json");
    t.is(pruned.code, 0, pruned.stderr);
    t.deepEqual((JSON.parse(pruned.stdout) as { deleted: string[] }).deleted, [backup.id]);
  } finally {
    await source.end();
  }
});

test("backup: expected failures are one line on stderr, exit 1 (2 with nothing to connect to); bad usage exits 2", async (t) => {
  t.timeout(60_000);
  const storage = {
    ...storageEnv(t.context.server, `errors-${randomBytes(3).toString("hex")}`),
    DATABASE_URL: TEST_DATABASE_URL,
  };
  const oneLine = (result: { stderr: string }) => {
    t.notRegex(result.stderr, /^\s+at /m, "no stack trace");
    t.is(result.stderr.trim().split("\n").length, 1, result.stderr);
  };

  const unknown = await cli("backup", storage, "restore", "20261124T090000000Z-000000");
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no backup "20261124T090000000Z-000000"/);
  oneLine(unknown);

  const noneYet = await cli("backup", storage, "restore", "latest");
  t.is(noneYet.code, 1);
  t.regex(noneYet.stderr, /there are no backups to restore/);

  const noBucket = await cli("backup", { ...storage, BACKUP_S3_BUCKET: "no-such-bucket" }, "list");
  t.is(noBucket.code, 2);
  t.regex(noBucket.stderr, /bucket "no-such-bucket" does not exist \(check BACKUP_S3_BUCKET/);
  oneLine(noBucket);

  const closed = await startLocalS3Server([]);
  await closed.close();
  const unreachable = await cli("backup", { ...storage, BACKUP_S3_ENDPOINT: closed.endpoint }, "list");
  t.is(unreachable.code, 2);
  t.regex(unreachable.stderr, /cannot reach S3 storage .*ECONNREFUSED.*\(check BACKUP_S3_ENDPOINT\)/);
  oneLine(unreachable);

  const port = await freePort();
  const noDatabase = await cli(
    "backup",
    { ...storage, DATABASE_URL: `postgres://tidemark:tidemark@127.0.0.1:${port}/tidemark` },
    "create",
  );
  t.is(noDatabase.code, 2, noDatabase.stderr);
  t.regex(noDatabase.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  oneLine(noDatabase);

  const noVariable = await cli("backup", {}, "list");
  t.is(noVariable.code, 2);
  t.regex(noVariable.stderr, /^backup: config: BACKUP_S3_BUCKET is required for backups\n/);

  t.is((await cli("backup", storage, "prune")).code, 2, "prune without --keep");
  t.is((await cli("backup", storage, "restore", "yesterday")).code, 2, "not a backup id");
  t.is((await cli("backup", storage, "upload")).code, 2, "no such command");
});
