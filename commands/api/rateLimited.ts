import type { Context, Next } from "koa";
import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { ApiCaller } from "../../http/ApiKeys.ts";
import { ProblemError } from "../../http/ProblemError.ts";

/**
 * Rate limit per API key (after authentication): one point per request; over the limit, 429
 * with Retry-After. The limiter is memory or Redis (with a memory insurance limiter, so a Redis
 * outage costs accuracy across replicas, never availability).
 */
export function rateLimited(limiter: RateLimiterAbstract) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const caller = (ctx.state.caller as ApiCaller | undefined)?.name ?? ctx.ip;
    try {
      const result = await limiter.consume(caller);
      ctx.set("RateLimit-Remaining", String(result.remainingPoints));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      ctx.set("Retry-After", String(seconds));
      throw new ProblemError("rate_limited", `too many requests for this API key; retry in ${seconds} s`);
    }
    await next();
  };
}
