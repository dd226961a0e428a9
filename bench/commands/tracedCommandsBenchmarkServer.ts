import { startTracing } from "../../gateways/observability/startTracing.ts";

// The command API benchmark's server with tracing on, started before the modules it instruments
// load, exactly as bin/tidemark.ts does; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT comes from the bench.
const tracing = await startTracing(process.env);
if (tracing.exportingTo === undefined)
  throw new Error("no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracing is off");
process.on("SIGTERM", () => void tracing.shutdown());
await import("./commandsBenchmarkServer.ts");
