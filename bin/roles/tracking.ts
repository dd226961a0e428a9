import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import { TwilioSmsProvider } from "../../gateways/sms/TwilioSmsProvider.ts";
import { traceRequests } from "../../gateways/observability/traceContext.ts";
import { findOpenAccountsByPhone } from "../../projections/accounts/accountQueries.ts";
import { runStatusPoller } from "../../reactors/runStatusPoller.ts";
import { createSmsWebhooks } from "../../reactors/webhooks/createSmsWebhooks.ts";
import { listen } from "./listen.ts";
import { smsProvidersOf, webhookBaseUrlOf } from "./simulatorDefaults.ts";
import type { SystemContext } from "./SystemContext.ts";

/** Delivery tracking: the SMS webhooks (status reports, STOP/START/HELP) and the status poller. */
export async function startTracking(context: SystemContext): Promise<void> {
  const { config, pool, store, schemas, stops } = context;
  const logger = context.logger.child({ role: "tracking" });
  const webhook = createSmsWebhooks({
    store,
    providers: smsProvidersOf(config),
    publicBaseUrl: webhookBaseUrlOf(config),
    rules: context.rules,
    findAccountsByPhone: (phone) => findOpenAccountsByPhone(pool, schemas.read, phone),
    clock: Date.now,
    newEventId,
    logger: logger.child({ component: "sms-webhooks" }),
  });
  await listen(
    webhook,
    config.listenHost,
    config.trackingPort,
    stops,
    context.metrics.httpMiddleware("tracking"),
    traceRequests("tracking"),
  );
  context.urls.tracking = `http://127.0.0.1:${config.trackingPort}/sms/status and /sms/inbound (reports, STOP/START/HELP; poller every 30 s)`;
  // Lost callbacks: ask the providers; never settled within the validity: unknown.
  const controller = new AbortController();
  const polling = runStatusPoller({
    pool,
    store,
    providers: smsProvidersOf(config).map((provider) => new TwilioSmsProvider(provider)),
    notificationsView: `"${schemas.read}".notifications`,
    signal: controller.signal,
    clock: Date.now,
    newEventId,
    logger: logger.child({ component: "status-poller" }),
  });
  stops.unshift(async () => {
    controller.abort();
    await polling;
  });
}
