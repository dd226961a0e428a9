import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import test, { type ExecutionContext } from "ava";
import type { SpanSummary } from "./inMemoryTracedSystem.ts";
import { createIsolatedServices } from "./isolatedServices.ts";
import {
  freePort,
  openAccount,
  pushLowBalance,
  startSystemProcess,
  type SystemProcess,
} from "./systemProcess.ts";

interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
}

/** An OTLP/HTTP JSON receiver on loopback: what the system's exporter sends, span by span. */
async function startSpanReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; server: Server }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const payload = JSON.parse(body) as {
        resourceSpans?: { scopeSpans?: { spans?: Partial<ReceivedSpan>[] }[] }[];
      };
      for (const resource of payload.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: span.traceId ?? "",
              spanId: span.spanId ?? "",
              parentSpanId: span.parentSpanId ?? "",
              name: span.name ?? "",
            });
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, server };
}

/** The hops one balance push must cross, each as a span of its trace. */
const HOPS: readonly (readonly [hop: string, name: RegExp])[] = [
  ["command API", /^POST \/accounts\/:id\/balances$/],
  ["append to the log", /^append account$/],
  ["relay publish to RabbitMQ", /publish/i],
  ["qualification policy consumes", /^handle qualification-policy$/],
  ["notification appended", /^append notification$/],
  ["SMS gateway consumes", /^handle sms-gateway$/],
  ["provider call", /^POST$/],
  ["status callback", /^sms status report (sent|delivered)$/],
];

/** Where a run's spans come from: the system's own configuration for it, and how to get them. */
interface SpanSource {
  readonly env: Readonly<Record<string, string>>;
  readonly entry?: string;
  spans(system: SystemProcess): Promise<readonly ReceivedSpan[]>;
  close(): void;
}

test("one balance push makes one connected trace: command API → append → relay → consumers → provider call → status callback (in-memory span exporter)", async (t) => {
  await checkOneConnectedTrace(t, {
    env: {},
    entry: "test/inMemoryTracedSystem.ts",
    spans: (system) => spansInMemory(system),
    close: () => undefined,
  });
});

test("the same trace exported over OTLP/HTTP as the standard OTEL_* variables configure it", async (t) => {
  const receiver = await startSpanReceiver();
  await checkOneConnectedTrace(t, {
    env: {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
    spans: () => Promise.resolve(receiver.spans),
    close: () => receiver.server.close(),
  });
});

async function checkOneConnectedTrace(t: ExecutionContext, source: SpanSource): Promise<void> {
  t.timeout(180_000);
  const services = await createIsolatedServices("tracing");
  let system: SystemProcess | undefined;
  try {
    system = await startSystemProcess({
      ...(source.entry === undefined ? {} : { entry: source.entry }),
      env: {
        ...services.env,
        SMS_SIMULATOR_PORT: String(await freePort()),
        BANKING_SIMULATOR_PORT: String(await freePort()),
        ...source.env,
      },
    });
    await openAccount(system, "traced-1", "+447911123456");
    await pushLowBalance(system, "traced-1");

    let spans: readonly ReceivedSpan[] = [];
    const traceOfPush = () => {
      const push = spans.find((span) => HOPS[0]?.[1].test(span.name));
      return push === undefined ? [] : spans.filter((span) => span.traceId === push.traceId);
    };
    const missing = () => HOPS.filter(([, name]) => !traceOfPush().some((span) => name.test(span.name)));
    const orphansOf = (trace: readonly ReceivedSpan[]) => {
      const known = new Set(trace.map((span) => span.spanId));
      return trace.filter((span) => span.parentSpanId !== "" && !known.has(span.parentSpanId));
    };
    // Wait for every hop and for every parent: a parent ends (and is exported) after its children,
    // so right after the last hop arrives a parent may still be on its way.
    for (let waited = 0; waited < 60_000; waited += 250) {
      spans = await source.spans(system);
      if (missing().length === 0 && orphansOf(traceOfPush()).length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const trace = traceOfPush();
    t.deepEqual(
      missing().map(([hop]) => hop),
      [],
      `hops missing from the trace; its spans: ${trace.map((span) => span.name).join(", ")}`,
    );
    const roots = trace.filter((span) => span.parentSpanId === "");
    const orphans = orphansOf(trace);
    t.is(roots.length, 1, "one root: the command API's request");
    t.deepEqual(
      orphans.map((span) => span.name),
      [],
      "every other span's parent is in the trace",
    );
    t.log(`${trace.length} spans in the trace: ${[...new Set(trace.map((span) => span.name))].join(" · ")}`);
  } finally {
    await system?.stop();
    await services.drop((message) => t.log(message));
    source.close();
  }
}

/** The finished spans `test/inMemoryTracedSystem.ts` holds, asked for over its IPC channel. */
async function spansInMemory(system: SystemProcess): Promise<readonly ReceivedSpan[]> {
  const { child } = system;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer from the system about its spans")), 5_000);
    child.once("message", (message: { spans: SpanSummary[] }) => {
      clearTimeout(timer);
      resolve(message.spans);
    });
    child.send("spans");
  });
}
