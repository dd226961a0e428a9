import type { Context, Next } from "koa";
import {
  EventStoreUnavailableError,
  LogImportUnderWayError,
} from "../gateways/eventStore/EventStoreError.ts";
import { ProblemError, type ProblemCode } from "./ProblemError.ts";

/** Where the edge logs what it answered: a pino `Logger` is one. */
export interface ProblemLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const STATUS: Readonly<Record<ProblemCode, number>> = {
  invalid_request: 400,
  unauthenticated: 401,
  invalid_api_key: 401,
  forbidden: 403,
  invalid_signature: 403,
  not_found: 404,
  method_not_allowed: 405,
  revision_mismatch: 412,
  precondition_required: 428,
  idempotency_key_reused: 422,
  idempotency_key_in_use: 409,
  refused: 409,
  unprocessable: 422,
  payload_too_large: 413,
  rate_limited: 429,
  unsupported_media_type: 415,
  request_header_fields_too_large: 431,
  unavailable: 503,
  internal: 500,
};

const TITLE: Readonly<Record<ProblemCode, string>> = {
  invalid_request: "The request is invalid",
  unauthenticated: "An API key is required",
  invalid_api_key: "The API key is not valid",
  forbidden: "The API key may not do this",
  invalid_signature: "The request carries no valid signature of the provider it names",
  not_found: "Not found",
  method_not_allowed: "The resource does not take this method",
  revision_mismatch: "The resource is not at the revision given in If-Match",
  precondition_required: "This request must say, in If-Match, which version it was made against",
  idempotency_key_reused: "This Idempotency-Key was used for a different request",
  idempotency_key_in_use: "A request with this Idempotency-Key is still being processed",
  refused: "The command was refused",
  unprocessable: "The request is well-formed but its content cannot be accepted; see reason",
  payload_too_large: "The request body is too large",
  rate_limited: "Too many requests",
  unsupported_media_type: "The request body is not of a media type this resource takes; see detail",
  request_header_fields_too_large: "The request's header fields are too large",
  unavailable: "Temporarily unavailable; retry later",
  internal: "Internal error",
};

/** What every route of both APIs refuses before it runs, for their OpenAPI documents. */
export const EDGE_RULES =
  "No path segment, query parameter, or string or key of a JSON body may hold a control character " +
  "(U+0000-U+001F, U+007F; tab and line breaks included): 400 invalid_request, each such field in `errors`. " +
  "Authorization: Bearer <API key>: 401 unauthenticated without one, 401 invalid_api_key for one that is not valid. " +
  "Header fields over the server's limit: 431 request_header_fields_too_large.";

/**
 * The one place where errors become HTTP answers. Registered first, it turns `ProblemError`
 * codes, body-parser errors and store outages into problem+json, and hides everything else
 * behind a 500 that says nothing about internals (the log has the detail).
 */
export function problemMiddleware(logger: ProblemLog) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (error) {
      renderProblem(ctx, error, logger);
    }
  };
}

/**
 * Writes the problem+json answer for an error into `ctx` (status, type, body, headers). Used by
 * `problemMiddleware`, and by the idempotency layer, which must store the exact answer.
 */
export function renderProblem(ctx: Context, error: unknown, logger: ProblemLog): void {
  const problem = toProblem(error);
  if (problem.expected) {
    logger.warn(
      { code: problem.code, detail: problem.detail, path: ctx.path, method: ctx.method },
      "request answered with an expected problem",
    );
  } else if (problem.code === "internal" || problem.code === "unavailable") {
    logger.error({ err: error, path: ctx.path, method: ctx.method }, "request failed");
  }
  writeProblem(ctx, problem);
}

function writeProblem(ctx: Context, problem: ProblemError): void {
  ctx.status = STATUS[problem.code];
  ctx.type = "application/problem+json";
  ctx.body = problemDocument(problem, ctx.path);
  if (problem.code === "unavailable") ctx.set("Retry-After", "1");
}

/** The RFC 9457 document for `problem`; `instance` is the path, when the request got that far. */
export function problemDocument(problem: ProblemError, instance?: string): Record<string, unknown> {
  return {
    type: `https://tidemark.dev/problems/${problem.code.replaceAll("_", "-")}`,
    title: TITLE[problem.code],
    status: STATUS[problem.code],
    code: problem.code,
    detail: problem.detail,
    ...(instance === undefined ? {} : { instance }),
    ...problem.extra,
  };
}

function toProblem(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof LogImportUnderWayError)
    return new ProblemError(
      "unavailable",
      "the event log is being imported; nothing was written, try again once it has finished",
    );
  if (error instanceof EventStoreUnavailableError)
    return new ProblemError("unavailable", "the event store does not answer");
  const status = (error as { status?: unknown; expose?: unknown } | null)?.status;
  if (status === 413) return new ProblemError("payload_too_large", "the body exceeds the size limit");
  if (status === 415)
    return new ProblemError("unsupported_media_type", "send Content-Type: application/json");
  if (typeof status === "number" && status >= 400 && status < 500) {
    // Body-parser's and Koa's own client errors: malformed JSON and the like.
    return new ProblemError("invalid_request", "the body is not valid JSON", {
      errors: [{ field: "body", problem: "is not valid JSON" }],
    });
  }
  return new ProblemError("internal", "an internal error occurred");
}
