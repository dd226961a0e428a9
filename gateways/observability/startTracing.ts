import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";

/**
 * OpenTelemetry tracing, configured by the standard `OTEL_*` variables and off unless one of
 * them asks for an exporter: `OTEL_TRACES_EXPORTER` (other than `none`),
 * `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED=true`
 * wins. Off costs nothing: the SDK is not even loaded, and the API calls in the code are no-ops.
 *
 * Must run before the modules it instruments are loaded (http, pg, ioredis, amqplib, undici for
 * fetch): `bin/tidemark.ts` starts it, then imports the system.
 */
export interface Tracing {
  /** Where spans go, for the start-up line; undefined when tracing is off. */
  readonly exportingTo: string | undefined;
  /** Flushes the spans not yet exported. */
  shutdown(): Promise<void>;
}

export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === "true") return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  return (
    (exporter !== undefined && exporter !== "none") ||
    env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  );
}

/**
 * Starts tracing when `env` asks for it. `spanProcessors`, when given, turn it on whatever `env`
 * says and replace the exporter `env` would configure (a test keeps the spans in memory).
 */
export async function startTracing(
  env: NodeJS.ProcessEnv,
  spanProcessors?: readonly SpanProcessor[],
): Promise<Tracing> {
  if (spanProcessors === undefined && !tracingWanted(env)) {
    return { exportingTo: undefined, shutdown: () => Promise.resolve() };
  }
  // Traces only: metrics are prom-client's (/metrics), logs are pino's.
  env.OTEL_METRICS_EXPORTER ??= "none";
  env.OTEL_LOGS_EXPORTER ??= "none";
  const [{ NodeSDK }, http, undici, pg, ioredis, amqplib, koa] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/instrumentation-http"),
    import("@opentelemetry/instrumentation-undici"),
    import("@opentelemetry/instrumentation-pg"),
    import("@opentelemetry/instrumentation-ioredis"),
    import("@opentelemetry/instrumentation-amqplib"),
    import("@opentelemetry/instrumentation-koa"),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? "tidemark",
    ...(spanProcessors === undefined ? {} : { spanProcessors: [...spanProcessors] }),
    instrumentations: [
      // Incoming requests get their server span from traceRequests (traceContext.ts): this
      // instrumentation's own cost a third of the command API's throughput on Node 20.
      new http.HttpInstrumentation({ disableIncomingRequestInstrumentation: true }),
      new undici.UndiciInstrumentation({ requireParentforSpans: true }),
      // Background readers (subscriptions, leases, pollers) query all the time: only queries
      // inside a traced request or message get spans.
      new pg.PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
      new amqplib.AmqplibInstrumentation(),
      // Koa 3 loads as an ES module, which this instrumentation cannot patch without a loader
      // hook; traceRequests names each server span by its route instead.
      new koa.KoaInstrumentation(),
    ],
  });
  sdk.start();
  return {
    exportingTo:
      spanProcessors === undefined
        ? (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
          env.OTEL_EXPORTER_OTLP_ENDPOINT ??
          env.OTEL_TRACES_EXPORTER)
        : "the span processors given",
    shutdown: () => sdk.shutdown(),
  };
}
