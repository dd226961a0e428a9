import type { EventStore } from "./EventStore.ts";

/**
 * `store` with some of its methods replaced; the others are its own, bound to it (its private
 * state stays its own). For a caller that must see what goes through the store: the scheduler
 * notes which requests reached the store's append.
 */
export function withMethods(
  store: EventStore,
  replaced: Partial<Pick<EventStore, "append" | "readStream">>,
): EventStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === "append" && replaced.append !== undefined) return replaced.append;
      if (key === "readStream" && replaced.readStream !== undefined) return replaced.readStream;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
