import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { DeadLetter } from "../../../gateways/fanout/DeadLetters.ts";
import { parseRequest } from "../../../http/parseRequest.ts";
import { ProblemError } from "../../../http/ProblemError.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";

/** Most dead letters one answer lists, and most event ids one requeue names. */
export const MAX_DEAD_LETTERS = 1000;

const consumerName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a consumer name (lower-case letters, digits, dashes)");

/** The request parts of the dead-letter routes, shared with the OpenAPI document. */
export const deadLetterRequests = {
  listQuery: z.strictObject({
    consumer: consumerName.optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, "must be a whole number")
      .transform(Number)
      .refine((value) => value >= 1 && value <= MAX_DEAD_LETTERS, `must be from 1 to ${MAX_DEAD_LETTERS}`)
      .default(100),
  }),
  requeueParams: z.strictObject({ consumer: consumerName }),
  requeueBody: z.union([
    z.strictObject({
      eventIds: z
        .array(z.uuid({ message: "must be an event id (a UUID)" }))
        .min(1)
        .max(MAX_DEAD_LETTERS),
    }),
    z.strictObject({ all: z.literal(true) }),
  ]),
} as const;

/**
 * `GET /operations/dead-letters`: what the fan-out's consumers gave up on (RabbitMQ's `.dead`
 * queues with AMQP_URL, else the in-process fan-out's table), in log order per consumer.
 * `POST /operations/dead-letters/{consumer}/requeue` (admin): hands some or all back to the consumer.
 */
export function deadLetterRoutes(
  router: Router,
  dependencies: OperationsDependencies,
  guards: OperationsGuards,
): void {
  const { deadLetters, consumers, logger } = dependencies;
  const reached = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      logger.error({ err: error }, "dead letters: the fan-out's store did not answer");
      throw new ProblemError(
        "unavailable",
        "the dead letters' store (RabbitMQ or PostgreSQL) does not answer",
      );
    }
  };

  router.get("/operations/dead-letters", guards.read, async (ctx: Context) => {
    const query = parseRequest("query", deadLetterRequests.listQuery, ctx.query);
    // A consumer this process does not know has none (its queue or rows could only be leftovers).
    const asked = consumers.filter((known) => query.consumer === undefined || known === query.consumer);
    const letters = asked.length === 0 ? [] : await reached(() => deadLetters.list(asked, query.limit));
    ctx.body = { items: letters.map(deadLetterView) };
  });

  router.post("/operations/dead-letters/:consumer/requeue", ...guards.admin, async (ctx: Context) => {
    const { consumer } = parseRequest("params", deadLetterRequests.requeueParams, ctx.params);
    const body = parseRequest("body", deadLetterRequests.requeueBody, ctx.request.body);
    if (!consumers.includes(consumer)) {
      throw new ProblemError("not_found", `no consumer ${consumer}; there are: ${consumers.join(", ")}`);
    }
    const eventIds = "all" in body ? "all" : body.eventIds;
    ctx.body = { requeued: await reached(() => deadLetters.requeue(consumer, eventIds)) };
  });
}

function deadLetterView(letter: DeadLetter) {
  return {
    consumer: letter.consumer,
    eventId: letter.eventId,
    eventType: letter.eventType,
    streamId: letter.streamId === "" ? null : letter.streamId,
    position: letter.position === "" ? null : letter.position,
    error: letter.error,
    failedAt: Number.isNaN(letter.failedAt.getTime()) ? null : letter.failedAt.toISOString(),
    attempts: letter.attempts,
    requeuedAt: letter.requeuedAt?.toISOString() ?? null,
  };
}
