import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SCOPES, type ApiKeyEntry } from "../http/ApiKeys.ts";
import type { RefreshSchedule } from "../domain/account/RefreshSchedule.ts";
import type { ReferenceTimeBounds } from "../domain/values/ReferenceTimeBounds.ts";
import { MAX_SNAPSHOT_PARTS } from "../gateways/eventStore/EventStore.ts";
import { DEFAULT_BACKTEST_THREADS } from "./backtestThreadsFor.ts";

/** Where the PostgreSQL that holds the event log (and, later, the read models) comes from. */
export type DatabaseConfig =
  | { readonly kind: "embedded"; readonly dataDir: string; readonly port: number }
  | { readonly kind: "external"; readonly url: string };

/** Which adapter serves the event store port. */
export type EventStoreConfig =
  { readonly kind: "postgres" } | { readonly kind: "eventstoredb"; readonly url: string };

/**
 * Where backups of the event log go: S3 or an S3-compatible server. Credentials are not here: the
 * AWS SDK's default chain reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile, or a role).
 */
export interface BackupStorageConfig {
  /** undefined: AWS's own endpoint for the region. */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Backups are `s3://<bucket>/<prefix>/<backup id>/`; no leading or trailing slash. */
  readonly prefix: string;
  /** The bucket in the URL's path instead of its host name (MinIO and most local servers need it). */
  readonly forcePathStyle: boolean;
}

/** Everything a Tidemark process reads from its environment, validated once at start-up. */
export interface Config {
  readonly database: DatabaseConfig;
  readonly eventStore: EventStoreConfig;
  readonly amqpUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly commandApiPort: number;
  readonly queryApiPort: number;
  /** Where the built-in SMS provider simulator listens (the `simulators` role). */
  readonly smsSimulatorPort: number;
  /** Where the built-in Banking API simulator listens (the `simulators` role). */
  readonly bankingSimulatorPort: number;
  /** SMS providers in order of preference (Twilio's Messages API); empty: the built-in simulator. */
  readonly smsProviders: readonly {
    readonly name: string;
    readonly baseUrl: string;
    readonly accountSid: string;
    readonly authToken: string;
    readonly from: string;
    /** The provider's limit for this process, messages a second; undefined: none. */
    readonly messagesPerSecond?: number | undefined;
  }[];
  /** Where the delivery-report webhook listens (the `tracking` role). */
  readonly trackingPort: number;
  /** Every process's `/metrics`, `/health` and `/ready`. */
  readonly metricsPort: number;
  /** The address every HTTP server binds: loopback by default, `0.0.0.0` in a container. */
  readonly listenHost: string;
  /**
   * The SMS webhooks' base URL as the providers call it (`/sms/status`, `/sms/inbound` under it);
   * undefined: `http://127.0.0.1:<trackingPort>`.
   */
  readonly smsWebhookBaseUrl: string | undefined;
  /** The Banking API the banking gateway reads; undefined: the built-in simulator. */
  readonly bankingApi: { readonly url: string; readonly token: string } | undefined;
  /** How the banking gateway reads the Banking API, and the simulator's seed. */
  readonly banking: {
    /** Refreshes handled at once, so that a throttled or slow account never holds up the others. */
    readonly concurrency: number;
    /** The bank's limit for this process, calls a second; undefined: none. */
    readonly attemptsPerSecond: number | undefined;
    /** The longest Retry-After waited for; a longer one fails the refresh as `throttled`. */
    readonly retryAfterCapMs: number;
    /** Each refresh's deadline, retries and pauses included. */
    readonly refreshDeadlineMs: number;
    /** A JSON file `{"<accountId>": [OB balances]}` the Banking API simulator starts with. */
    readonly simulatorSeedFile: string | undefined;
  };
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  /** Hashed API keys; empty only in the embedded default, which then makes a dev key. */
  readonly apiKeys: readonly ApiKeyEntry[];
  /** The rules file, rule set version 1 when none is published; undefined: the shipped default. */
  readonly rulesFile: string | undefined;
  /** How often each process looks for a newly published rule set version. */
  readonly rulesPollMs: number;
  /** Threads a backtest replays the log on, each one part (1: none of its own). */
  readonly backtestThreads: number;
  /** Where the command API keeps balance files sent to it until imported, and the largest it takes. */
  readonly balanceImports: { readonly directory: string; readonly maxBytes: number };
  /** Requests per second allowed per API key on the command API. */
  readonly rateLimitPerSecond: number;
  /** Longest a query waits for the read models to pass the client's position before 503. */
  readonly readYourWritesTimeoutMs: number;
  /** How far a pushed or pulled balance's reference time may lie ahead of or behind now. */
  readonly referenceTimeBounds: ReferenceTimeBounds;
  /** Prefix of the read models' schemas (`<prefix>_read`, `<prefix>_projections`, builds). */
  readonly schemaPrefix: string;
  /** undefined: BACKUP_S3_BUCKET is not set (only `npm run backup` requires it). */
  readonly backupStorage: BackupStorageConfig | undefined;
  /** The scheduler's unattended balance refreshes: how often, and how long after an account opens. */
  readonly refreshSchedule: RefreshSchedule;
}

/** A bad or missing variable: the message is one line naming it and what is wrong. */
export class ConfigError extends Error {
  readonly code = "config_invalid";

  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`config: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

const urlWithScheme = (schemes: readonly string[]) =>
  z
    .string()
    .optional()
    .refine(
      (value) => value === undefined || (URL.canParse(value) && schemes.includes(new URL(value).protocol)),
      { message: `must be a URL starting with ${schemes.map((scheme) => `${scheme}//`).join(" or ")}` },
    );

const port = (fallback: number) =>
  z
    .string()
    .default(String(fallback))
    .refine((value) => /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535, {
      message: "must be a port number from 1 to 65535",
    })
    .transform(Number);

const wholeNumber = (fallback: string, min: number, max: number, message: string) =>
  z
    .string()
    .default(fallback)
    .refine((value) => /^\d{1,7}$/.test(value) && Number(value) >= min && Number(value) <= max, { message })
    .transform(Number);

const apiKeysSchema = z
  .array(
    z
      .object({
        name: z.string().min(1).max(64),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        scopes: z.array(z.enum(SCOPES as [string, ...string[]])).min(1),
      })
      .strict(),
  )
  .min(1);

/** Far above any sender's throughput (a short code's is about 100 a second): a typo, not a limit. */
const MAX_MESSAGES_PER_SECOND = 10_000;

const smsProvidersSchema = z
  .array(
    z
      .object({
        name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
        baseUrl: z
          .string()
          .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)),
        accountSid: z.string().min(1),
        authToken: z.string().min(1),
        from: z.string().min(1),
        messagesPerSecond: z.number().positive().max(MAX_MESSAGES_PER_SECOND).optional(),
      })
      .strict(),
  )
  .min(1);

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const WEEK_MS = 7 * 24 * 3_600_000;

const environment = z.object({
  DATABASE_URL: urlWithScheme(["postgres:", "postgresql:"]),
  EVENT_STORE: z
    .enum(["postgres", "eventstoredb"], { message: 'must be "postgres" or "eventstoredb"' })
    .default("postgres"),
  EVENTSTORE_URL: urlWithScheme(["esdb:", "esdb+discover:", "kurrentdb:", "kurrentdb+discover:"]),
  AMQP_URL: urlWithScheme(["amqp:", "amqps:"]),
  REDIS_URL: urlWithScheme(["redis:", "rediss:"]),
  COMMAND_API_PORT: port(3001),
  QUERY_API_PORT: port(3002),
  TRACKING_PORT: port(3003),
  METRICS_PORT: port(9464),
  LISTEN_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+$/, "must be an address to bind, e.g. 127.0.0.1 or 0.0.0.0")
    .default("127.0.0.1"),
  SMS_SIMULATOR_PORT: port(3010),
  BANKING_SIMULATOR_PORT: port(3011),
  BANKING_API_URL: urlWithScheme(["http:", "https:"]),
  SMS_WEBHOOK_BASE_URL: urlWithScheme(["http:", "https:"]),
  SMS_PROVIDERS: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return [];
      const parsed = smsProvidersSchema.safeParse(safeJson(text));
      if (parsed.success) return parsed.data;
      const badPace = parsed.error.issues.find((issue) => issue.path.at(-1) === "messagesPerSecond");
      context.addIssue({
        code: "custom",
        message:
          badPace === undefined
            ? 'must be a JSON array of {"name", "baseUrl", "accountSid", "authToken", "from", optional "messagesPerSecond"}'
            : `[${String(badPace.path[0])}].messagesPerSecond must be a number above 0 and at most ${MAX_MESSAGES_PER_SECOND} (the provider's messages a second for this process), or absent for no limit`,
      });
      return z.NEVER;
    }),
  BANKING_API_TOKEN: z.string().min(1, { message: "must not be empty" }).optional(),
  BANKING_CONCURRENCY: wholeNumber("8", 1, 1024, "must be a whole number from 1 to 1024"),
  BANKING_CALLS_PER_SECOND: wholeNumber(
    "0",
    0,
    100_000,
    "must be a whole number from 0 (no limit) to 100000",
  ),
  BANKING_RETRY_AFTER_CAP_SECONDS: wholeNumber(
    "60",
    0,
    3600,
    "must be a whole number of seconds from 0 to 3600",
  ),
  BANKING_REFRESH_DEADLINE_SECONDS: wholeNumber(
    "90",
    1,
    3600,
    "must be a whole number of seconds from 1 to 3600",
  ),
  BANKING_SIMULATOR_SEED_FILE: z.string().min(1).optional(),
  EMBEDDED_POSTGRES_PORT: port(54329),
  TIDEMARK_DATA_DIR: z.string().min(1, { message: "must not be empty" }).default(".tidemark"),
  TIDEMARK_API_KEYS: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return [];
      const parsed = apiKeysSchema.safeParse(safeJson(text));
      if (parsed.success) return parsed.data;
      context.addIssue({
        code: "custom",
        message: 'must be a JSON array of {"name", "sha256" (hex SHA-256 of the key), "scopes"}',
      });
      return z.NEVER;
    }),
  TIDEMARK_API_KEYS_FILE: z.string().min(1).optional(),
  TIDEMARK_RULES_FILE: z.string().min(1).optional(),
  BALANCE_IMPORT_DIR: z.string().min(1, { message: "must not be empty" }).optional(),
  BALANCE_IMPORT_MAX_MB: z
    .string()
    .default("4096")
    .refine((value) => /^\d{1,7}$/.test(value) && Number(value) >= 1, {
      message: "must be a whole number of megabytes from 1 to 9999999",
    })
    .transform(Number),
  BACKTEST_THREADS: z
    .string()
    .default(String(DEFAULT_BACKTEST_THREADS))
    .refine((value) => /^\d{1,2}$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_SNAPSHOT_PARTS, {
      message: `must be a whole number of threads from 1 to ${MAX_SNAPSHOT_PARTS}`,
    })
    .transform(Number),
  RULES_POLL_MS: z
    .string()
    .default("500")
    .refine((value) => /^\d{1,6}$/.test(value) && Number(value) >= 50, {
      message: "must be a whole number of milliseconds from 50 to 999999",
    })
    .transform(Number),
  RATE_LIMIT_PER_SECOND: z
    .string()
    .default("1000")
    .refine((value) => /^\d{1,7}$/.test(value) && Number(value) >= 1, {
      message: "must be a whole number of requests per second per API key, at least 1",
    })
    .transform(Number),
  READ_YOUR_WRITES_TIMEOUT_MS: z
    .string()
    .default("5000")
    .refine((value) => /^\d{1,6}$/.test(value) && Number(value) >= 1, {
      message: "must be a whole number of milliseconds from 1 to 999999",
    })
    .transform(Number),
  BALANCE_MAX_FUTURE_SKEW_SECONDS: z
    .string()
    .default("300")
    .refine((value) => /^\d{1,5}$/.test(value) && Number(value) <= 86_400, {
      message: "must be a whole number of seconds from 0 to 86400",
    })
    .transform(Number),
  BALANCE_MAX_AGE_HOURS: z
    .string()
    .default("168")
    .refine((value) => /^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 8784, {
      message: "must be a whole number of hours from 1 to 8784 (a year)",
    })
    .transform(Number),
  TIDEMARK_SCHEMA_PREFIX: z
    .string()
    .default("tidemark")
    .refine((value) => /^[a-z][a-z0-9_]{0,19}$/.test(value), {
      message: "must be 1-20 lower-case letters, digits or _ and start with a letter",
    }),
  BACKUP_S3_ENDPOINT: urlWithScheme(["http:", "https:"]),
  BACKUP_S3_BUCKET: z
    .string()
    .optional()
    .refine((value) => value === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value), {
      message: "must be an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens",
    }),
  BACKUP_S3_PREFIX: z
    .string()
    .default("tidemark")
    .refine((value) => /^[A-Za-z0-9._-]{1,100}(\/[A-Za-z0-9._-]{1,100}){0,9}$/.test(value), {
      message: "must be folder names of letters, digits, . _ or - joined by /, with no leading or trailing /",
    }),
  BACKUP_S3_REGION: z
    .string()
    .default("us-east-1")
    .refine((value) => /^[a-z0-9-]{1,32}$/.test(value), {
      message: "must be a region name such as us-east-1",
    }),
  BACKUP_S3_FORCE_PATH_STYLE: z.enum(["true", "false"], { message: 'must be "true" or "false"' }).optional(),
  SCHEDULED_REFRESH_PERIOD_MS: z
    .string()
    .default(String(6 * 3_600_000))
    .refine((value) => /^\d{1,9}$/.test(value) && Number(value) >= 60_000 && Number(value) <= WEEK_MS, {
      message: "must be a whole number of milliseconds from 60000 (a minute) to 604800000 (a week)",
    })
    .transform(Number),
  SCHEDULED_REFRESH_FIRST_DELAY_MS: z
    .string()
    .optional()
    .refine((value) => value === undefined || (/^\d{1,9}$/.test(value) && Number(value) <= WEEK_MS), {
      message: "must be a whole number of milliseconds from 0 to 604800000 (a week)",
    })
    .transform((value) => (value === undefined ? undefined : Number(value))),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace"], {
      message: "must be one of fatal, error, warn, info, debug, trace",
    })
    .default("info"),
});

/** The environment's variables once parsed: defaults filled in, numbers and lists decoded. */
type Variables = z.infer<typeof environment>;

type PresentVariables = Record<string, string | undefined>;

/** What a process requires beyond what every process does. */
interface LoadConfigOptions {
  readonly requireApiKeys?: boolean;
  readonly requireBackupStorage?: boolean;
}

/**
 * The one config loader of every Tidemark process.
 * @throws ConfigError for the first bad or missing variable.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  options: LoadConfigOptions = {},
): Config {
  // An empty variable means "not set", as it does for most shells' users.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  readApiKeysFile(present);
  const parsed = environment.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? "environment"), issue?.message ?? "is invalid");
  }
  const vars = parsed.data;
  requireDependentVariables(vars, present, options);
  return configFromVariables(vars);
}

/** Puts the content of TIDEMARK_API_KEYS_FILE, when set, in `present` as TIDEMARK_API_KEYS. */
function readApiKeysFile(present: PresentVariables): void {
  const keysFile = present.TIDEMARK_API_KEYS_FILE;
  if (keysFile === undefined) return;
  if (present.TIDEMARK_API_KEYS !== undefined) {
    throw new ConfigError("TIDEMARK_API_KEYS_FILE", "and TIDEMARK_API_KEYS are both set; use one");
  }
  try {
    present.TIDEMARK_API_KEYS = readFileSync(keysFile, "utf8");
  } catch (error) {
    throw new ConfigError(
      "TIDEMARK_API_KEYS_FILE",
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

/** The variables that one set variable, or what the process does, makes required. */
function requireDependentVariables(
  vars: Variables,
  present: PresentVariables,
  options: LoadConfigOptions,
): void {
  if (vars.EVENT_STORE === "eventstoredb" && vars.EVENTSTORE_URL === undefined) {
    throw new ConfigError("EVENTSTORE_URL", "is required when EVENT_STORE=eventstoredb");
  }
  if (vars.BANKING_API_URL !== undefined && vars.BANKING_API_TOKEN === undefined) {
    throw new ConfigError("BANKING_API_TOKEN", "is required when BANKING_API_URL is set");
  }
  if (
    (options.requireApiKeys ?? true) &&
    vars.DATABASE_URL !== undefined &&
    vars.TIDEMARK_API_KEYS.length === 0
  ) {
    throw new ConfigError(
      "TIDEMARK_API_KEYS",
      "is required outside the embedded default (no API keys configured)",
    );
  }
  if (options.requireBackupStorage === true) {
    if (vars.BACKUP_S3_BUCKET === undefined)
      throw new ConfigError("BACKUP_S3_BUCKET", "is required for backups");
    // The SDK would silently fall back to other credentials (a profile, a role) with only one of them.
    for (const [variable, other] of [
      ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
      ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"],
    ] as const) {
      if (present[variable] === undefined && present[other] !== undefined) {
        throw new ConfigError(variable, `is required when ${other} is set`);
      }
    }
  }
}

/** The config the parsed and checked variables describe. */
function configFromVariables(vars: Variables): Config {
  return {
    apiKeys: vars.TIDEMARK_API_KEYS as ApiKeyEntry[],
    rulesFile: vars.TIDEMARK_RULES_FILE,
    rulesPollMs: vars.RULES_POLL_MS,
    backtestThreads: vars.BACKTEST_THREADS,
    balanceImports: {
      directory: vars.BALANCE_IMPORT_DIR ?? path.join(vars.TIDEMARK_DATA_DIR, "balance-imports"),
      maxBytes: vars.BALANCE_IMPORT_MAX_MB * 1024 * 1024,
    },
    rateLimitPerSecond: vars.RATE_LIMIT_PER_SECOND,
    readYourWritesTimeoutMs: vars.READ_YOUR_WRITES_TIMEOUT_MS,
    referenceTimeBounds: {
      maxFutureSkewMs: vars.BALANCE_MAX_FUTURE_SKEW_SECONDS * 1000,
      maxAgeMs: vars.BALANCE_MAX_AGE_HOURS * 3_600_000,
    },
    schemaPrefix: vars.TIDEMARK_SCHEMA_PREFIX,
    database:
      vars.DATABASE_URL === undefined
        ? { kind: "embedded", dataDir: vars.TIDEMARK_DATA_DIR, port: vars.EMBEDDED_POSTGRES_PORT }
        : { kind: "external", url: vars.DATABASE_URL },
    eventStore:
      vars.EVENT_STORE === "eventstoredb" && vars.EVENTSTORE_URL !== undefined
        ? { kind: "eventstoredb", url: vars.EVENTSTORE_URL }
        : { kind: "postgres" },
    amqpUrl: vars.AMQP_URL,
    redisUrl: vars.REDIS_URL,
    commandApiPort: vars.COMMAND_API_PORT,
    queryApiPort: vars.QUERY_API_PORT,
    smsSimulatorPort: vars.SMS_SIMULATOR_PORT,
    bankingSimulatorPort: vars.BANKING_SIMULATOR_PORT,
    smsProviders: vars.SMS_PROVIDERS,
    smsWebhookBaseUrl: vars.SMS_WEBHOOK_BASE_URL?.replace(/\/+$/, ""),
    trackingPort: vars.TRACKING_PORT,
    metricsPort: vars.METRICS_PORT,
    listenHost: vars.LISTEN_HOST,
    bankingApi:
      vars.BANKING_API_URL === undefined
        ? undefined
        : { url: vars.BANKING_API_URL, token: vars.BANKING_API_TOKEN ?? "" },
    banking: {
      concurrency: vars.BANKING_CONCURRENCY,
      attemptsPerSecond: vars.BANKING_CALLS_PER_SECOND === 0 ? undefined : vars.BANKING_CALLS_PER_SECOND,
      retryAfterCapMs: vars.BANKING_RETRY_AFTER_CAP_SECONDS * 1000,
      refreshDeadlineMs: vars.BANKING_REFRESH_DEADLINE_SECONDS * 1000,
      simulatorSeedFile: vars.BANKING_SIMULATOR_SEED_FILE,
    },
    logLevel: vars.LOG_LEVEL,
    refreshSchedule: {
      periodMs: vars.SCHEDULED_REFRESH_PERIOD_MS,
      firstDelayMs: vars.SCHEDULED_REFRESH_FIRST_DELAY_MS ?? vars.SCHEDULED_REFRESH_PERIOD_MS,
    },
    backupStorage: backupStorageOf(vars),
  };
}

/** undefined without BACKUP_S3_BUCKET; path-style addressing defaults to on for a custom endpoint. */
function backupStorageOf(vars: Variables): BackupStorageConfig | undefined {
  if (vars.BACKUP_S3_BUCKET === undefined) return undefined;
  return {
    endpoint: vars.BACKUP_S3_ENDPOINT,
    region: vars.BACKUP_S3_REGION,
    bucket: vars.BACKUP_S3_BUCKET,
    prefix: vars.BACKUP_S3_PREFIX,
    forcePathStyle:
      vars.BACKUP_S3_FORCE_PATH_STYLE === undefined
        ? vars.BACKUP_S3_ENDPOINT !== undefined
        : vars.BACKUP_S3_FORCE_PATH_STYLE === "true",
  };
}
