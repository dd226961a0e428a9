import type Router from "@koa/router";
import type { Context } from "koa";
import type { Kysely } from "kysely";
import { z } from "zod";
import { epochMsToInstant } from "../../../domain/values/Instant.ts";
import { parseRequest } from "../../../http/parseRequest.ts";
import { providerHealth } from "../../tracking/providerHealth.ts";
import type { TrackingTables } from "../../tracking/TrackingTables.ts";
import type { OperationsDependencies, OperationsGuards } from "./OperationsDependencies.ts";

/** The widest window of provider health, in hours (30 days). */
export const MAX_PROVIDER_HOURS = 720;

/** The request parts of the provider route, shared with the OpenAPI document. */
export const providerRequests = {
  query: z.strictObject({
    hours: z
      .string()
      .regex(/^\d{1,3}$/, "must be a whole number of hours")
      .transform(Number)
      .refine((value) => value >= 1 && value <= MAX_PROVIDER_HOURS, `must be from 1 to ${MAX_PROVIDER_HOURS}`)
      .default(24),
  }),
} as const;

/**
 * `GET /operations/providers?hours=24`: each SMS provider's attempts, acceptances, failures,
 * failovers away from it and delivery outcomes over the last hours, from the tracking read model.
 */
export function providerRoutes(
  router: Router,
  dependencies: OperationsDependencies,
  guards: OperationsGuards,
): void {
  const clock = dependencies.clock ?? Date.now;
  router.get("/operations/providers", guards.read, async (ctx: Context) => {
    const { hours } = parseRequest("query", providerRequests.query, ctx.query);
    const since = epochMsToInstant(clock() - hours * 3_600_000);
    const tracking = dependencies.db as Kysely<TrackingTables>;
    ctx.body = { since, providers: await providerHealth(tracking, dependencies.schemas.read, since) };
  });
}
