import test from "ava";
import { Redis } from "ioredis";
import Koa from "koa";
import { pino } from "pino";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { AddressInfo } from "node:net";
import { problemMiddleware } from "../../http/problemMiddleware.ts";
import { rateLimited } from "./rateLimited.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function statuses(limiter: RateLimiterAbstract, requests: number): Promise<number[]> {
  const app = new Koa();
  app.use(problemMiddleware(pino({ level: "silent" })));
  app.use(async (ctx, next) => {
    ctx.state.caller = { name: ctx.get("x-key"), scopes: [] };
    await next();
  });
  app.use(rateLimited(limiter));
  app.use((ctx) => {
    ctx.body = { ok: true };
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = `key-${Math.random()}`;
  const answers: number[] = [];
  for (let index = 0; index < requests; index += 1) {
    const response = await fetch(url, { headers: { "x-key": key } });
    if (response.status === 429) answers.push(Number(response.headers.get("retry-after")) > 0 ? 429 : -1);
    else answers.push(response.status);
  }
  await new Promise((resolve) => server.close(resolve));
  return answers;
}

test("over the per-key limit, requests get 429 with Retry-After", async (t) => {
  t.deepEqual(
    await statuses(new RateLimiterMemory({ points: 3, duration: 60 }), 5),
    [200, 200, 200, 429, 429],
  );
});

test("the limit is shared through Redis", async (t) => {
  const redis = new Redis(REDIS_URL, { enableOfflineQueue: false });
  await new Promise((resolve, reject) => {
    redis.once("ready", resolve);
    redis.once("error", reject);
  });
  const options = { storeClient: redis, points: 2, duration: 60, keyPrefix: `test-${Math.random()}` };
  t.deepEqual(await statuses(new RateLimiterRedis(options), 3), [200, 200, 429]);
  redis.disconnect();
});

test("when Redis is down, the memory insurance limiter keeps limiting (speed, not correctness)", async (t) => {
  const redis = new Redis("redis://127.0.0.1:1", {
    enableOfflineQueue: false,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  redis.on("error", () => undefined);
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    points: 2,
    duration: 60,
    insuranceLimiter: new RateLimiterMemory({ points: 2, duration: 60 }),
  });
  t.deepEqual(await statuses(limiter, 3), [200, 200, 429]);
  redis.disconnect();
});
