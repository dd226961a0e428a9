import { startTracing } from "../gateways/observability/startTracing.ts";

// `npm start`: tracing first (when OTEL_* asks for it), because its instrumentations patch
// http, pg, ioredis and amqplib as they load; then the system itself.
const tracing = await startTracing(process.env);
const { main } = await import("./runSystem.ts");
await main({ tracing });
