import { randomUUID } from "node:crypto";
import type { Context } from "koa";
import type { EventMetadata } from "../../gateways/eventStore/EventStore.ts";
import type { CommandOutcome } from "../handleCommand.ts";
import type { ApiCaller } from "../../http/ApiKeys.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import { activeTraceContext } from "../../gateways/observability/traceContext.ts";

/**
 * Turns a command's outcome into the HTTP answer every command route gives: the ids, stream id,
 * new revision (also as ETag) and global position of the append; or a problem. `refusal` says
 * which refusal codes mean "no such resource" (404) or "the content cannot be accepted" (422)
 * rather than "refused in this state" (409).
 */
export function answerCommand<RefusalCode extends string>(
  ctx: Context,
  ids: Readonly<Record<string, string>>,
  streamId: string,
  outcome: CommandOutcome<{ readonly type: string }, RefusalCode>,
  status: number,
  refusal: (code: RefusalCode) => "not_found" | "refused" | "unprocessable",
): void {
  switch (outcome.outcome) {
    case "accepted":
      ctx.status = outcome.events.length === 0 && status === 201 ? 200 : status;
      ctx.set("ETag", `"${outcome.revision}"`);
      ctx.body = {
        ...ids,
        streamId,
        revision: outcome.revision,
        position: outcome.position ?? null,
        events: outcome.events.map((event) => event.type),
      };
      return;
    case "revision_mismatch":
      throw new ProblemError(
        "revision_mismatch",
        `${streamId} is at revision ${outcome.actual}, not ${outcome.expected}`,
        {
          expectedRevision: outcome.expected,
          actualRevision: outcome.actual,
        },
      );
    case "refused":
      switch (refusal(outcome.code)) {
        case "not_found":
          throw new ProblemError("not_found", `${streamId} does not exist`);
        case "unprocessable":
          throw new ProblemError("unprocessable", outcome.detail, { reason: outcome.code });
        case "refused":
          throw new ProblemError("refused", outcome.detail, { reason: outcome.code });
      }
  }
}

/** `If-Match: "3"` or `If-Match: 3` → 3; absent → undefined; anything else → 400. */
export function ifMatchRevision(header: string): number | undefined {
  if (header === "") return undefined;
  const match = /^(?:W\/)?"?(-1|\d{1,15})"?$/.exec(header.trim());
  if (match?.[1] === undefined) {
    throw new ProblemError("invalid_request", 'If-Match must be a stream revision such as "3"', {
      errors: [{ field: "header.if-match", problem: 'must be a revision such as "3"' }],
    });
  }
  return Number(match[1]);
}

/** Event metadata from the request: correlation id, W3C traceparent, and the API key as actor. */
export function requestMetadata(ctx: Context): EventMetadata {
  const caller = ctx.state.caller as ApiCaller | undefined;
  const correlation = ctx.get("x-correlation-id");
  const traceparent = ctx.get("traceparent");
  return {
    correlationId: /^[\x21-\x7e]{1,128}$/.test(correlation) ? correlation : randomUUID(),
    actor: `api-key:${caller?.name ?? "unknown"}`,
    // The request's span when tracing is on (a child of the caller's traceparent), else the header.
    ...(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(traceparent) ? { traceparent } : {}),
    ...activeTraceContext(),
  };
}
