/** Machine-readable codes of every error the HTTP edge answers with. */
export type ProblemCode =
  | "invalid_request"
  | "unauthenticated"
  | "invalid_api_key"
  | "forbidden"
  | "invalid_signature"
  | "not_found"
  | "method_not_allowed"
  | "revision_mismatch"
  | "precondition_required"
  | "idempotency_key_reused"
  | "idempotency_key_in_use"
  | "refused"
  | "unprocessable"
  | "payload_too_large"
  | "rate_limited"
  | "unsupported_media_type"
  | "request_header_fields_too_large"
  | "unavailable"
  | "internal";

/** One bad field of a request: where it is (`body.phone`, `header.if-match`) and what is wrong. */
export interface FieldProblem {
  readonly field: string;
  readonly problem: string;
}

/**
 * An error the HTTP edge turns into `application/problem+json` (RFC 9457). The code decides the
 * status in one place (`problemMiddleware`); `detail` is shown to the client, so it never holds
 * internals.
 */
export class ProblemError extends Error {
  readonly expected: boolean;

  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extra: {
      readonly errors?: readonly FieldProblem[];
      readonly reason?: string;
      readonly [key: string]: unknown;
    } = {},
    options: {
      /**
       * An outcome the client is told to expect and handle (a read-your-writes wait that ran
       * out): logged at warn without a stack, even as a 503, not as a failure of the service.
       */
      readonly expected?: boolean;
    } = {},
  ) {
    super(detail);
    this.name = "ProblemError";
    this.expected = options.expected ?? false;
  }
}
