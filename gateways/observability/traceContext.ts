import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from "@opentelemetry/api";
import type { Middleware } from "koa";
import type { EventMetadata, RecordedEvent } from "../eventStore/EventStore.ts";

/**
 * Trace context across Tidemark's hops, through the OpenTelemetry API only: with no SDK started
 * (tracing off, the default) every call here is a no-op and events keep the metadata they had.
 * Events carry W3C `traceparent` / `tracestate` in their metadata, so one trace runs from the
 * command API through the log, the relay and the consumers to the provider and its report.
 */

const tracer = () => trace.getTracer("tidemark");

/** The active span's W3C trace context, to store in an event's metadata; `{}` when none. */
export function activeTraceContext(): Pick<EventMetadata, "traceparent" | "tracestate"> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return {
    ...(carrier.traceparent === undefined ? {} : { traceparent: carrier.traceparent }),
    ...(carrier.tracestate === undefined ? {} : { tracestate: carrier.tracestate }),
  };
}

/** The context an event's metadata names (its trace as parent), or the root context. */
export function contextOfEvent(metadata: Pick<EventMetadata, "traceparent" | "tracestate">): Context {
  const carrier: Record<string, string> = {};
  if (metadata.traceparent !== undefined) carrier.traceparent = metadata.traceparent;
  if (metadata.tracestate !== undefined) carrier.tracestate = metadata.tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/**
 * Runs `work` for an event inside a span named `name`: a child of the span already active (a
 * consumer's message span) or else of the trace the event's metadata names. `work` receives the
 * event with the new span's trace context in its metadata, so what it appends continues the trace.
 */
export async function withEventSpan<T>(
  event: RecordedEvent,
  name: string,
  work: (event: RecordedEvent) => Promise<T>,
): Promise<T> {
  const parent =
    trace.getSpan(context.active())?.spanContext().isRemote === false
      ? context.active()
      : contextOfEvent(event.metadata);
  return inSpan(
    name,
    SpanKind.CONSUMER,
    parent,
    { "tidemark.event.type": event.type, "tidemark.event.id": event.id },
    () => {
      const traced = activeTraceContext();
      return work(
        traced.traceparent === undefined ? event : { ...event, metadata: { ...event.metadata, ...traced } },
      );
    },
  );
}

/** Runs `work` inside a new span, child of `parent`; records a thrown error on the span. */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Record<string, string>,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Koa middleware, outermost: each request in a server span, a child of the caller's
 * `traceparent`, named by its route (`POST /accounts/:id/balances`) once the router matched it.
 * It stands in for the http instrumentation's server spans, which cost a third of the command
 * API's throughput on Node 20 (bench/README.md); outgoing calls are traced by the fetch (undici),
 * pg, ioredis and amqplib instrumentations.
 */
export function traceRequests(role: string): Middleware {
  return async (ctx, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, ctx.headers);
    const span = tracer().startSpan(
      ctx.method,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": ctx.method, "tidemark.role": role } },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = typeof matched === "string" ? matched : "unmatched";
      span.updateName(`${ctx.method} ${route}`);
      span.setAttribute("http.route", route);
      span.setAttribute("http.response.status_code", ctx.status);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}

export { SpanKind };
