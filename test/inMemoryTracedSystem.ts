import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { startTracing } from "../gateways/observability/startTracing.ts";

/**
 * `bin/tidemark.ts` with its spans kept by an in-memory span exporter instead of exported; the
 * test that started this process (with an IPC channel) sends "spans" and gets every finished
 * span back as `{ spans: SpanSummary[] }`.
 */
export interface SpanSummary {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
}

const exporter = new InMemorySpanExporter();
const tracing = await startTracing(process.env, [new SimpleSpanProcessor(exporter)]);
// The channel must not keep the process alive once the system has shut down.
process.channel?.unref();
process.on("message", (message) => {
  if (message !== "spans") return;
  const spans: SpanSummary[] = exporter.getFinishedSpans().map((span) => ({
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? "",
    name: span.name,
  }));
  process.send?.({ spans });
});
const { main } = await import("../bin/runSystem.ts");
await main({ tracing });
