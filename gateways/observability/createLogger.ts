import pino, { type DestinationStream, type Logger } from "pino";

/** Keys whose values never reach a log line, at any depth (compared without case, `_` or `-`). */
const SECRET_KEYS = new Set([
  "phone",
  "to",
  "from",
  "msisdn",
  "body",
  "text",
  "smsbody",
  "amount",
  "balance",
  "threshold",
  "authorization",
  "apikey",
  "key",
  "token",
  "accesstoken",
  "authtoken",
  "password",
  "secret",
  "variables",
]);

/** What is left of a redacted value. */
export const REDACTED = "[redacted]";

// Values that give themselves away wherever they stand: in messages, error texts and stacks.
const SECRET_PATTERNS: readonly RegExp[] = [
  /\+\d{7,15}\b/g, // phone numbers, E.164
  /\btm_[a-z]+_[0-9a-f]{16,}\b/g, // Tidemark API keys
  /\bBearer\s+[^\s"',;]+/gi, // any bearer token
  /[£$€]\s?-?\d[\d,]*(?:\.\d+)?/g, // money with its symbol (£42.00 — SMS bodies carry these)
  /-?\b\d[\d,]*\.\d{2}\s?(?:GBP|EUR|USD|CHF|PLN|SEK|NOK|DKK)\b/g, // money with its code
];

/**
 * The one logger of a process: pino JSON (ELK-ready), with phone numbers, balances, message
 * bodies and keys taken out of every line — by key name at any depth of the logged object, by
 * pattern in the message and in every string (error messages and stacks included).
 */
export function createLogger(
  options: { readonly level: string; readonly base?: Record<string, unknown> },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? null,
      formatters: { log: (object) => scrub(object, 0) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === "string" ? scrubText(arg) : arg)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}

/** The text with every secret pattern replaced. */
export function scrubText(text: string): string {
  return SECRET_PATTERNS.reduce((scrubbed, pattern) => scrubbed.replace(pattern, REDACTED), text);
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === "string") return scrubText(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth > 8) return "[too deep]";
  if (value instanceof Error) {
    const error = value as Error & { code?: unknown; cause?: unknown };
    return {
      type: error.name,
      message: scrubText(error.message),
      stack: error.stack === undefined ? undefined : scrubText(error.stack),
      ...(error.code === undefined ? {} : { code: scrub(error.code, depth + 1) }),
      ...(error.cause === undefined ? {} : { cause: scrub(error.cause, depth + 1) }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  if (value instanceof Date) return value;
  const scrubbed: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    scrubbed[key] = SECRET_KEYS.has(key.toLowerCase().replace(/[_-]/g, ""))
      ? REDACTED
      : scrub(inner, depth + 1);
  }
  return scrubbed;
}
