import type { Middleware } from "koa";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** The circuit breaker's states, as the gauge reports them (0 closed, 1 half-open, 2 open). */
export type CircuitState = "closed" | "half-open" | "open";
const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** What a scrape-time gauge reads when Prometheus asks: labels → value. */
export type GaugeReading = readonly { readonly labels: Record<string, string>; readonly value: number }[];

/**
 * Every Tidemark metric, in one prom-client registry per process (never the global one), served
 * at `/metrics`. Names and labels are the contract `ops/prometheus/` builds its rules and
 * dashboard on (see ops/prometheus/METRICS.md): change them together.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: "tidemark_http_request_duration_seconds",
    help: "HTTP request duration by role, route (the matched pattern, not the path) and status",
    labelNames: ["role", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly appends = new Counter({
    name: "tidemark_event_appends_total",
    help: "Appends to the event log by this process (one per stream written)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly appendDuration = new Histogram({
    name: "tidemark_event_append_duration_seconds",
    help: "Time from asking the event store to append until it answered",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly relayConfirms = new Counter({
    name: "tidemark_relay_confirms_total",
    help: "Events the broker confirmed to the relay",
    registers: [this.registry],
  });

  readonly consumerMessages = new Counter({
    name: "tidemark_consumer_messages_total",
    help: "Messages a consumer finished with, by queue and outcome (ok, retry, dead)",
    labelNames: ["queue", "outcome"] as const,
    registers: [this.registry],
  });

  readonly smsSubmissions = new Counter({
    name: "tidemark_sms_submissions_total",
    help: "SMS handed to a provider (submitted) or refused by it (failed), by provider",
    labelNames: ["provider", "outcome"] as const,
    registers: [this.registry],
  });

  readonly smsDeliveryStatuses = new Counter({
    name: "tidemark_sms_delivery_statuses_total",
    help: "Delivery statuses recorded, by provider and normalised status",
    labelNames: ["provider", "status"] as const,
    registers: [this.registry],
  });

  readonly bankingCalls = new Counter({
    name: "tidemark_banking_api_calls_total",
    help: "Calls to the Banking API (each attempt), by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly bankingRefreshFailures = new Counter({
    name: "tidemark_banking_refresh_failures_total",
    help: "Balance refreshes recorded as failed (BalanceRefreshFailed), by reason (consent_expired, throttled, ...)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly bankingCircuit = new Gauge({
    name: "tidemark_banking_circuit_state",
    help: "The Banking API circuit breaker: 0 closed, 1 half-open, 2 open",
    registers: [this.registry],
  });

  constructor(options: { readonly processDefaults?: boolean } = {}) {
    if (options.processDefaults ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records the circuit breaker's state. */
  circuitChanged(state: CircuitState): void {
    this.bankingCircuit.set(CIRCUIT_VALUE[state]);
  }

  /**
   * A gauge whose values are read when Prometheus scrapes (lag, queue depth): no timer runs in
   * between. A reading that fails leaves the gauge empty for that scrape rather than stale.
   */
  scrapeGauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => Promise<GaugeReading>,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        let readings: GaugeReading;
        try {
          readings = await read();
        } catch {
          return;
        }
        for (const reading of readings) this.set(reading.labels, reading.value);
      },
    });
  }

  /** Koa middleware timing every request under its route pattern (`/accounts/:id`), not its path. */
  httpMiddleware(role: string): Middleware {
    return async (ctx, next) => {
      const stop = this.httpDuration.startTimer({ role });
      try {
        await next();
      } finally {
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        const route = typeof matched === "string" ? matched : "unmatched";
        stop({ route, status: String(ctx.status) });
      }
    };
  }

  /** The text Prometheus scrapes, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
