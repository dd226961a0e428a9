import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, Next } from "koa";
import { ProblemError } from "./ProblemError.ts";

/**
 * What an API key may do: write commands, publish rule sets (`rules:write`), read the query API
 * (`queries:read`), see phone numbers and message bodies there (`pii:read`; without it they are
 * masked), or everything (`admin`).
 */
export type Scope =
  | "balances:write"
  | "accounts:write"
  | "notifications:write"
  | "rules:write"
  | "queries:read"
  | "pii:read"
  | "admin";

export const SCOPES: readonly Scope[] = [
  "balances:write",
  "accounts:write",
  "notifications:write",
  "rules:write",
  "queries:read",
  "pii:read",
  "admin",
];

/** A configured key: its name (for logs), the SHA-256 of the key (never the key) and its scopes. */
export interface ApiKeyEntry {
  readonly name: string;
  readonly sha256: string;
  readonly scopes: readonly Scope[];
}

/** The caller a request was authenticated as. */
export interface ApiCaller {
  readonly name: string;
  readonly scopes: readonly Scope[];
}

/** The SHA-256 (hex) under which a key is configured. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * Checks `Authorization: Bearer <key>` against hashed keys. The presented key is hashed and
 * compared with every configured hash in constant time, so timing says nothing about which
 * bytes matched or which key was close.
 */
export class ApiKeys {
  readonly #entries: readonly { readonly entry: ApiKeyEntry; readonly digest: Buffer }[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.#entries = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, "hex") }));
  }

  authenticate(authorization: string | undefined): ApiCaller | undefined {
    const match = /^Bearer ([\x21-\x7e]{16,256})$/.exec(authorization ?? "");
    if (match?.[1] === undefined) return undefined;
    const presented = Buffer.from(hashApiKey(match[1]), "hex");
    let found: ApiKeyEntry | undefined;
    for (const { entry, digest } of this.#entries) {
      if (digest.length === presented.length && timingSafeEqual(digest, presented)) found = entry;
    }
    return found === undefined ? undefined : { name: found.name, scopes: found.scopes };
  }

  /** Whether `caller` may do what `scope` allows (admin may do all). */
  static allows(caller: ApiCaller, scope: Scope): boolean {
    return caller.scopes.includes(scope) || caller.scopes.includes("admin");
  }

  /**
   * Middleware: 401 without a key (`unauthenticated`) or with one that is not a configured key
   * (`invalid_api_key`, so a client can tell a missing key from a wrong or revoked one), 403 when
   * the key lacks `scope` (admin may do all).
   */
  require(scope: Scope) {
    return async (ctx: Context, next: Next): Promise<void> => {
      const authorization = ctx.get("authorization");
      const caller = this.authenticate(authorization || undefined);
      if (caller === undefined && authorization === "") {
        ctx.set("WWW-Authenticate", 'Bearer realm="tidemark"');
        throw new ProblemError("unauthenticated", "send Authorization: Bearer <API key>");
      }
      if (caller === undefined) {
        ctx.set("WWW-Authenticate", 'Bearer realm="tidemark", error="invalid_token"');
        throw new ProblemError("invalid_api_key", "the API key sent in Authorization is not a valid key");
      }
      if (!ApiKeys.allows(caller, scope)) {
        throw new ProblemError("forbidden", `this API key lacks the scope ${scope}`, {
          requiredScope: scope,
        });
      }
      ctx.state.caller = caller;
      await next();
    };
  }
}
