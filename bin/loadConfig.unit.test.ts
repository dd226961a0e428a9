import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import test from "ava";
import { ConfigError, loadConfig } from "./loadConfig.ts";
import { DEFAULT_BACKTEST_THREADS } from "./backtestThreadsFor.ts";

test("given no variables, when loading, then the embedded default with standard ports", (t) => {
  const config = loadConfig({});
  t.deepEqual(config.database, { kind: "embedded", dataDir: ".tidemark", port: 54329 });
  t.deepEqual(config.eventStore, { kind: "postgres" });
  t.is(config.commandApiPort, 3001);
  t.is(config.queryApiPort, 3002);
  t.is(config.smsSimulatorPort, 3010);
  t.is(config.bankingSimulatorPort, 3011);
  t.is(config.bankingApi, undefined, "the built-in simulator");
  t.deepEqual(config.smsProviders, [], "the built-in simulator");
  t.is(config.trackingPort, 3003);
  t.is(config.amqpUrl, undefined);
});

test("given service URLs, when loading, then they are used", (t) => {
  const config = loadConfig({
    TIDEMARK_API_KEYS: JSON.stringify([{ name: "ops", sha256: "a".repeat(64), scopes: ["admin"] }]),
    DATABASE_URL: "postgres://u:p@db:5432/x",
    EVENT_STORE: "eventstoredb",
    EVENTSTORE_URL: "esdb://es:2113?tls=false",
    AMQP_URL: "amqp://guest:guest@mq:5672",
    REDIS_URL: "redis://cache:6379",
    COMMAND_API_PORT: "8080",
  });
  t.deepEqual(config.database, { kind: "external", url: "postgres://u:p@db:5432/x" });
  t.deepEqual(config.eventStore, { kind: "eventstoredb", url: "esdb://es:2113?tls=false" });
  t.is(config.commandApiPort, 8080);
  t.is(config.redisUrl, "redis://cache:6379");
  t.deepEqual(config.apiKeys, [{ name: "ops", sha256: "a".repeat(64), scopes: ["admin"] }]);
});

const bad: [Record<string, string>, string][] = [
  [
    { DATABASE_URL: "mysql://db/x" },
    "config: DATABASE_URL must be a URL starting with postgres:// or postgresql://",
  ],
  [
    { DATABASE_URL: "not a url" },
    "config: DATABASE_URL must be a URL starting with postgres:// or postgresql://",
  ],
  [{ COMMAND_API_PORT: "70000" }, "config: COMMAND_API_PORT must be a port number from 1 to 65535"],
  [{ QUERY_API_PORT: "abc" }, "config: QUERY_API_PORT must be a port number from 1 to 65535"],
  [
    { BANKING_API_URL: "ftp://bank" },
    "config: BANKING_API_URL must be a URL starting with http:// or https://",
  ],
  [
    { BANKING_API_URL: "https://bank.example" },
    "config: BANKING_API_TOKEN is required when BANKING_API_URL is set",
  ],
  [{ EVENT_STORE: "mongo" }, 'config: EVENT_STORE must be "postgres" or "eventstoredb"'],
  [{ EVENT_STORE: "eventstoredb" }, "config: EVENTSTORE_URL is required when EVENT_STORE=eventstoredb"],
  [{ AMQP_URL: "http://mq" }, "config: AMQP_URL must be a URL starting with amqp:// or amqps://"],
  [{ LOG_LEVEL: "loud" }, "config: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace"],
  [
    { DATABASE_URL: "postgres://db/x" },
    "config: TIDEMARK_API_KEYS is required outside the embedded default (no API keys configured)",
  ],
  [
    { TIDEMARK_API_KEYS: "[{}]" },
    'config: TIDEMARK_API_KEYS must be a JSON array of {"name", "sha256" (hex SHA-256 of the key), "scopes"}',
  ],
];

for (const [env, message] of bad) {
  test(`given ${JSON.stringify(env)}, when loading, then one line names the variable`, (t) => {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.is(error.message, message);
    t.false(error.message.includes("\n"));
  });
}

test("API keys may come from a file, never from both places", (t) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "tidemark-")), "keys.json");
  writeFileSync(file, JSON.stringify([{ name: "ops", sha256: "b".repeat(64), scopes: ["accounts:write"] }]));
  const config = loadConfig({ DATABASE_URL: "postgres://db/x", TIDEMARK_API_KEYS_FILE: file });
  t.deepEqual(config.apiKeys, [{ name: "ops", sha256: "b".repeat(64), scopes: ["accounts:write"] }]);
  t.throws(() => loadConfig({ TIDEMARK_API_KEYS_FILE: file, TIDEMARK_API_KEYS: "[]" }), {
    message: "config: TIDEMARK_API_KEYS_FILE and TIDEMARK_API_KEYS are both set; use one",
  });
  t.throws(() => loadConfig({ TIDEMARK_API_KEYS_FILE: "/nonexistent/keys.json" }), {
    message: "config: TIDEMARK_API_KEYS_FILE cannot be read (ENOENT)",
  });
});

test("an empty variable counts as unset", (t) => {
  t.is(loadConfig({ DATABASE_URL: "" }).database.kind, "embedded");
});

test("backup storage: unset without a bucket; defaults, and path-style requests when an endpoint is named", (t) => {
  t.is(loadConfig({}).backupStorage, undefined);
  t.deepEqual(loadConfig({ BACKUP_S3_BUCKET: "tidemark-backups" }).backupStorage, {
    endpoint: undefined,
    region: "us-east-1",
    bucket: "tidemark-backups",
    prefix: "tidemark",
    forcePathStyle: false,
  });
  t.deepEqual(
    loadConfig({
      BACKUP_S3_BUCKET: "backups",
      BACKUP_S3_ENDPOINT: "http://127.0.0.1:9000",
      BACKUP_S3_PREFIX: "prod/tidemark",
      BACKUP_S3_REGION: "eu-west-2",
    }).backupStorage,
    {
      endpoint: "http://127.0.0.1:9000",
      region: "eu-west-2",
      bucket: "backups",
      prefix: "prod/tidemark",
      forcePathStyle: true,
    },
  );
  t.false(
    loadConfig({
      BACKUP_S3_BUCKET: "b1b",
      BACKUP_S3_ENDPOINT: "https://s3.example",
      BACKUP_S3_FORCE_PATH_STYLE: "false",
    }).backupStorage?.forcePathStyle,
  );
});

const badBackup: [Record<string, string>, string][] = [
  [{}, "config: BACKUP_S3_BUCKET is required for backups"],
  [
    { BACKUP_S3_BUCKET: "My_Bucket" },
    "config: BACKUP_S3_BUCKET must be an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens",
  ],
  [
    { BACKUP_S3_BUCKET: "backups", BACKUP_S3_ENDPOINT: "s3.example.com" },
    "config: BACKUP_S3_ENDPOINT must be a URL starting with http:// or https://",
  ],
  [
    { BACKUP_S3_BUCKET: "backups", BACKUP_S3_PREFIX: "/tidemark/" },
    "config: BACKUP_S3_PREFIX must be folder names of letters, digits, . _ or - joined by /, with no leading or trailing /",
  ],
  [
    { BACKUP_S3_BUCKET: "backups", BACKUP_S3_FORCE_PATH_STYLE: "yes" },
    'config: BACKUP_S3_FORCE_PATH_STYLE must be "true" or "false"',
  ],
  [
    { BACKUP_S3_BUCKET: "backups", AWS_ACCESS_KEY_ID: "AKIA" },
    "config: AWS_SECRET_ACCESS_KEY is required when AWS_ACCESS_KEY_ID is set",
  ],
];

for (const [env, message] of badBackup) {
  test(`given ${JSON.stringify(env)}, when loading for a backup, then one line names the variable`, (t) => {
    const error = t.throws(() => loadConfig(env, { requireBackupStorage: true }), {
      instanceOf: ConfigError,
    });
    t.is(error.message, message);
  });
}

test("the banking gateway: reads at once, the bank's limit, Retry-After cap and deadline per refresh, with defaults", (t) => {
  t.deepEqual(loadConfig({}).banking, {
    concurrency: 8,
    attemptsPerSecond: undefined,
    retryAfterCapMs: 60_000,
    refreshDeadlineMs: 90_000,
    simulatorSeedFile: undefined,
  });
  t.deepEqual(
    loadConfig({
      BANKING_CONCURRENCY: "2",
      BANKING_CALLS_PER_SECOND: "25",
      BANKING_RETRY_AFTER_CAP_SECONDS: "5",
      BANKING_REFRESH_DEADLINE_SECONDS: "20",
      BANKING_SIMULATOR_SEED_FILE: "seed.json",
    }).banking,
    {
      concurrency: 2,
      attemptsPerSecond: 25,
      retryAfterCapMs: 5000,
      refreshDeadlineMs: 20_000,
      simulatorSeedFile: "seed.json",
    },
  );
  for (const [variable, value, problem] of [
    ["BANKING_CONCURRENCY", "0", "must be a whole number from 1 to 1024"],
    ["BANKING_CONCURRENCY", "1025", "must be a whole number from 1 to 1024"],
    ["BANKING_CALLS_PER_SECOND", "1.5", "must be a whole number from 0 (no limit) to 100000"],
    ["BANKING_CALLS_PER_SECOND", "100001", "must be a whole number from 0 (no limit) to 100000"],
    ["BANKING_RETRY_AFTER_CAP_SECONDS", "-1", "must be a whole number of seconds from 0 to 3600"],
    ["BANKING_REFRESH_DEADLINE_SECONDS", "0", "must be a whole number of seconds from 1 to 3600"],
  ] as const) {
    const error = t.throws(() => loadConfig({ [variable]: value }), { instanceOf: ConfigError });
    t.is(error.message, `config: ${variable} ${problem}`);
  }
});

test("a pushed or pulled balance's reference time is bounded: 5 minutes ahead, 7 days back unless set", (t) => {
  t.deepEqual(loadConfig({}).referenceTimeBounds, { maxFutureSkewMs: 300_000, maxAgeMs: 7 * 86_400_000 });
  t.deepEqual(
    loadConfig({ BALANCE_MAX_FUTURE_SKEW_SECONDS: "0", BALANCE_MAX_AGE_HOURS: "36" }).referenceTimeBounds,
    { maxFutureSkewMs: 0, maxAgeMs: 36 * 3_600_000 },
  );
  for (const [variable, value] of [
    ["BALANCE_MAX_FUTURE_SKEW_SECONDS", "-1"],
    ["BALANCE_MAX_FUTURE_SKEW_SECONDS", "5m"],
    ["BALANCE_MAX_FUTURE_SKEW_SECONDS", "86401"],
    ["BALANCE_MAX_AGE_HOURS", "0"],
    ["BALANCE_MAX_AGE_HOURS", "100000"],
  ] as const) {
    const error = t.throws(() => loadConfig({ [variable]: value }), { instanceOf: ConfigError });
    t.is(error.variable, variable);
  }
});

test("the refresh schedule: every 6 hours, the first a full period after opening, unless set", (t) => {
  t.deepEqual(loadConfig({}).refreshSchedule, { periodMs: 21_600_000, firstDelayMs: 21_600_000 });
  t.deepEqual(
    loadConfig({ SCHEDULED_REFRESH_PERIOD_MS: "28800000" }).refreshSchedule,
    { periodMs: 28_800_000, firstDelayMs: 28_800_000 },
    "the first delay follows the period",
  );
  t.deepEqual(
    loadConfig({ SCHEDULED_REFRESH_PERIOD_MS: "3600000", SCHEDULED_REFRESH_FIRST_DELAY_MS: "0" })
      .refreshSchedule,
    { periodMs: 3_600_000, firstDelayMs: 0 },
  );
  for (const [env, message] of [
    [
      { SCHEDULED_REFRESH_PERIOD_MS: "1000" },
      "config: SCHEDULED_REFRESH_PERIOD_MS must be a whole number of milliseconds from 60000 (a minute) to 604800000 (a week)",
    ],
    [
      { SCHEDULED_REFRESH_PERIOD_MS: "6h" },
      "config: SCHEDULED_REFRESH_PERIOD_MS must be a whole number of milliseconds from 60000 (a minute) to 604800000 (a week)",
    ],
    [
      { SCHEDULED_REFRESH_FIRST_DELAY_MS: "-5" },
      "config: SCHEDULED_REFRESH_FIRST_DELAY_MS must be a whole number of milliseconds from 0 to 604800000 (a week)",
    ],
  ] as const) {
    t.throws(() => loadConfig(env), { instanceOf: ConfigError, message });
  }
});

test("backtest threads: the cores up to 2 unless set, 1 to 64", (t) => {
  t.is(loadConfig({}).backtestThreads, DEFAULT_BACKTEST_THREADS);
  t.is(loadConfig({ BACKTEST_THREADS: "1" }).backtestThreads, 1);
  t.is(loadConfig({ BACKTEST_THREADS: "12" }).backtestThreads, 12);
  for (const value of ["0", "65", "2.5", "two"]) {
    const error = t.throws(() => loadConfig({ BACKTEST_THREADS: value }), { instanceOf: ConfigError });
    t.is(error.message, "config: BACKTEST_THREADS must be a whole number of threads from 1 to 64");
  }
});

test("SMS providers: each may name its messages a second, none by default; a bad one is named", (t) => {
  const provider = {
    name: "primary",
    baseUrl: "https://api.twilio.com",
    accountSid: "AC1",
    authToken: "token",
    from: "Tidemark",
  };
  const withPace = (messagesPerSecond: unknown) => ({
    SMS_PROVIDERS: JSON.stringify([
      { ...provider, name: "backup" },
      { ...provider, messagesPerSecond },
    ]),
  });
  t.deepEqual(loadConfig({ SMS_PROVIDERS: JSON.stringify([provider]) }).smsProviders, [provider]);
  t.deepEqual(loadConfig(withPace(0.5)).smsProviders[1], { ...provider, messagesPerSecond: 0.5 });
  t.is(loadConfig(withPace(10_000)).smsProviders[1]?.messagesPerSecond, 10_000);
  for (const bad of [0, -1, 10_001, "50", null]) {
    t.throws(() => loadConfig(withPace(bad)), {
      instanceOf: ConfigError,
      message:
        "config: SMS_PROVIDERS [1].messagesPerSecond must be a number above 0 and at most 10000 (the provider's messages a second for this process), or absent for no limit",
    });
  }
  t.throws(() => loadConfig({ SMS_PROVIDERS: JSON.stringify([{ ...provider, mps: 5 }]) }), {
    message:
      'config: SMS_PROVIDERS must be a JSON array of {"name", "baseUrl", "accountSid", "authToken", "from", optional "messagesPerSecond"}',
  });
});
