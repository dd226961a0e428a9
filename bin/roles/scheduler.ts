import { newEventId } from "../../gateways/eventStore/newEventId.ts";
import { runRefreshScheduler } from "../../reactors/runRefreshScheduler.ts";
import type { SystemContext } from "./SystemContext.ts";

/** The scheduler: a balance refresh of every open account, spread over each period. */
export function startScheduler(context: SystemContext): void {
  const { config } = context;
  const controller = new AbortController();
  const running = runRefreshScheduler({
    pool: context.pool,
    store: context.store,
    rules: context.rules,
    schema: `${config.schemaPrefix}_scheduler`,
    accountsView: `"${context.schemas.read}".accounts`,
    schedule: config.refreshSchedule,
    signal: controller.signal,
    clock: Date.now,
    newEventId,
    logger: context.logger.child({ role: "scheduler", component: "refresh-scheduler" }),
  });
  context.stops.unshift(async () => {
    controller.abort();
    await running;
  });
  const { periodMs, firstDelayMs } = config.refreshSchedule;
  context.urls.scheduler = `a balance refresh of every open account every ${periodMs / 60_000} min, spread over that period; the first ${firstDelayMs / 60_000} min or more after it opens`;
}
