import { createHash } from "node:crypto";
import type { Context, Next } from "koa";
import type pg from "pg";
import type { Logger } from "pino";
import type { ApiCaller } from "./ApiKeys.ts";
import { canonicalJson } from "./canonicalJson.ts";
import { migrateOperationalTables } from "../gateways/postgres/operationalMigrations.ts";
import { ProblemError } from "./ProblemError.ts";
import { rawBodyOf } from "./jsonBodies.ts";
import { renderProblem } from "./problemMiddleware.ts";

const KEY = /^[\x21-\x7e]{8,128}$/;
// A claim whose request never finished (the process died) may be taken over after this long.
const ABANDONED_AFTER_SECONDS = 60;

interface StoredAnswer {
  request_hash: string;
  status: number | null;
  content_type: string | null;
  etag: string | null;
  body: string | null;
}

/** What makes two requests the same: method, path, If-Match and the body (as `body` gives it). */
function hashRequest(ctx: Context, body: string): string {
  return createHash("sha256")
    .update(`${ctx.method} ${ctx.path}\n${ctx.get("if-match")}\n${body}`)
    .digest("hex");
}

/**
 * `Idempotency-Key` for POSTs, stored durably in PostgreSQL per API key: the first request with a
 * key is processed and its answer stored byte for byte; a retry with the same key and the same
 * request (method, path, If-Match and the parsed body: key order and spacing do not count) gets
 * that answer again (`Idempotent-Replayed: true`); the same key with another request
 * is refused (422); while the first is still running, a retry gets 409.
 */
export class IdempotencyStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly logger: Logger,
  ) {}

  /** Creates the schema and table if missing (the `commandApi` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.pool, "commandApi", this.schema);
  }

  /** Middleware for one POST route; goes after authentication (keys are per caller). */
  readonly middleware = async (ctx: Context, next: Next): Promise<void> => {
    const key = ctx.get("idempotency-key");
    if (key === "") {
      await next();
      return;
    }
    if (!KEY.test(key)) {
      throw new ProblemError("invalid_request", "Idempotency-Key must be 8-128 visible ASCII characters", {
        errors: [{ field: "header.idempotency-key", problem: "must be 8-128 visible ASCII characters" }],
      });
    }
    const caller = (ctx.state.caller as ApiCaller | undefined)?.name ?? "anonymous";
    const requestHash = hashRequest(ctx, canonicalJson(ctx.request.body ?? null));
    const claimed = await this.#claim(caller, key, requestHash);
    if (claimed !== undefined) {
      // Keys stored before requests were compared parsed hold the hash of the body's bytes: the
      // very same bytes still match them; the same JSON written otherwise does not.
      const sameRequest =
        claimed.request_hash === requestHash || claimed.request_hash === hashRequest(ctx, rawBodyOf(ctx));
      this.#replay(ctx, claimed, sameRequest);
      return;
    }
    try {
      await next();
    } catch (error) {
      renderProblem(ctx, error, this.logger);
    }
    if (ctx.status >= 500) {
      // The outcome is unknown or transient: free the key so the client may retry.
      await this.pool.query(`delete from "${this.schema}".idempotency_keys where caller = $1 and key = $2`, [
        caller,
        key,
      ]);
      return;
    }
    const body = typeof ctx.body === "string" ? ctx.body : JSON.stringify(ctx.body ?? null);
    const contentType = ctx.response.get("content-type");
    ctx.body = body;
    ctx.type = contentType === "" ? "application/json" : contentType;
    await this.pool.query(
      `update "${this.schema}".idempotency_keys set status = $3, content_type = $4, etag = $5, body = $6
        where caller = $1 and key = $2`,
      [caller, key, ctx.status, ctx.response.get("content-type"), ctx.response.get("etag") || null, body],
    );
  };

  /** Claims the key (undefined) or returns what is already stored under it. */
  async #claim(caller: string, key: string, requestHash: string): Promise<StoredAnswer | undefined> {
    const inserted = await this.pool.query(
      `insert into "${this.schema}".idempotency_keys (caller, key, request_hash) values ($1, $2, $3)
        on conflict (caller, key) do update set request_hash = excluded.request_hash, created_at = now()
          where idempotency_keys.status is null
            and idempotency_keys.created_at < now() - make_interval(secs => ${ABANDONED_AFTER_SECONDS})
        returning 1`,
      [caller, key, requestHash],
    );
    if (inserted.rowCount === 1) return undefined;
    const { rows } = await this.pool.query<StoredAnswer>(
      `select request_hash, status, content_type, etag, body from "${this.schema}".idempotency_keys
        where caller = $1 and key = $2`,
      [caller, key],
    );
    const stored = rows[0];
    // Deleted between the two statements (a 5xx freed it): treat as in use; the client retries.
    return stored ?? { request_hash: requestHash, status: null, content_type: null, etag: null, body: null };
  }

  #replay(ctx: Context, stored: StoredAnswer, sameRequest: boolean): void {
    if (!sameRequest) {
      throw new ProblemError(
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request",
      );
    }
    if (stored.status === null || stored.body === null) {
      ctx.set("Retry-After", "1");
      throw new ProblemError(
        "idempotency_key_in_use",
        "the first request with this Idempotency-Key is still running",
      );
    }
    ctx.status = stored.status;
    ctx.body = stored.body;
    ctx.type = stored.content_type ?? "application/json";
    if (stored.etag !== null) ctx.set("ETag", stored.etag);
    ctx.set("Idempotent-Replayed", "true");
  }
}
