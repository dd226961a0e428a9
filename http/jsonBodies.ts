import { bodyParser } from "@koa/bodyparser";
import type { Context, Middleware, Next } from "koa";
import { jsonDepth } from "./jsonDepth.ts";
import { ProblemError } from "./ProblemError.ts";

/** The body as the client sent it (set by the body parser; absent on requests without one). */
export function rawBodyOf(ctx: Context): string {
  const raw: unknown = ctx.request.rawBody;
  return typeof raw === "string" ? raw : "";
}

/**
 * JSON request bodies, bounded: a body must be UTF-8 `application/json` (415 otherwise), at most
 * `maxBytes` long (413) and nested at most `maxDepth` levels (400), refused before anything
 * recursive (hashing, validation) sees it. Register each step in order, after the edge's error
 * handling.
 */
export function jsonBodies(bounds: {
  readonly maxBytes: number;
  readonly maxDepth: number;
}): readonly Middleware[] {
  return [
    requireUtf8Json,
    bodyParser({ enableTypes: ["json"], jsonLimit: bounds.maxBytes, jsonStrict: true, encoding: "utf-8" }),
    async (ctx: Context, next: Next): Promise<void> => {
      if (jsonDepth(rawBodyOf(ctx)) > bounds.maxDepth) {
        throw new ProblemError("invalid_request", `the body nests deeper than ${bounds.maxDepth} levels`, {
          errors: [{ field: "body", problem: `nests deeper than ${bounds.maxDepth} levels` }],
        });
      }
      await next();
    },
  ];
}

async function requireUtf8Json(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === "POST" || ctx.method === "PUT") {
    // RFC 9112 §6.3: a body is announced by Transfer-Encoding (chunked) or a Content-Length.
    const length = ctx.get("content-length");
    if (ctx.get("transfer-encoding") !== "" || (length !== "" && length !== "0")) {
      if (!ctx.is("application/json")) {
        throw new ProblemError("unsupported_media_type", "send Content-Type: application/json");
      }
      // The body parser would read any declared charset as UTF-8 all the same (RFC 8259: JSON
      // between systems is UTF-8), so another one is refused rather than misread.
      const charset = ctx.request.charset.toLowerCase();
      if (charset !== "" && charset !== "utf-8" && charset !== "utf8") {
        throw new ProblemError("unsupported_media_type", `send UTF-8 JSON, not charset=${charset}`);
      }
    }
  }
  await next();
}
