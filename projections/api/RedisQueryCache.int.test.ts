import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import test from "ava";
import { Redis } from "ioredis";
import { pino } from "pino";
import { MemoryQueryCache } from "./MemoryQueryCache.ts";
import type { CachedAnswer } from "./QueryCache.ts";
import { RedisQueryCache } from "./RedisQueryCache.ts";
import { TieredQueryCache } from "./TieredQueryCache.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const answer: CachedAnswer = {
  contentType: "application/json",
  body: '{"a":1}',
  etag: '"x"',
  position: "0000000000000001-0000000000000001",
};

test("Redis keeps an answer until its TTL; a second cache (another replica) sees it", async (t) => {
  const one = new RedisQueryCache(new Redis(REDIS_URL), pino({ level: "silent" }), `test:${randomUUID()}:`);
  const key = randomUUID();
  t.is(await one.get(key), undefined);
  await one.set(key, answer, 300);
  t.deepEqual(await one.get(key), answer);
  await sleep(400);
  t.is(await one.get(key), undefined, "expired");
  await one.close();
});

test("a Redis that does not answer is a miss, never an error: slower, not wrong", async (t) => {
  const dead = new Redis("redis://127.0.0.1:1", {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  dead.on("error", () => undefined);
  const cache = new TieredQueryCache(
    new MemoryQueryCache(),
    new RedisQueryCache(dead, pino({ level: "silent" })),
  );
  await t.notThrowsAsync(cache.set("k", answer, 1000));
  t.deepEqual(await cache.get("k"), answer, "the memory tier still answers");
  t.is(await new RedisQueryCache(dead, pino({ level: "silent" })).get("k"), undefined);
  await cache.close();
});

test("the memory cache forgets the least recently used entry first, and expired ones", async (t) => {
  let now = 0;
  const cache = new MemoryQueryCache(2, () => now);
  await cache.set("a", answer, 100);
  await cache.set("b", answer, 100);
  await cache.get("a");
  await cache.set("c", answer, 100);
  t.truthy(await cache.get("a"));
  t.is(await cache.get("b"), undefined, "b was the least recently used");
  now = 200;
  t.is(await cache.get("a"), undefined, "expired");
});
