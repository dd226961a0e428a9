import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, getJson } from "./api.ts";

/** What a GET is doing: loading, answered, or failed with the API's problem. */
export type Loaded<T> =
  | { readonly status: "loading" }
  | { readonly status: "done"; readonly data: T }
  | { readonly status: "failed"; readonly error: ApiError };

/**
 * GETs `path` (nothing when null) whenever it changes; `reload` asks again, and keeps showing
 * what it has until the new answer comes (so what is on screen, e.g. a running rebuild, stays).
 * A late answer for a path no longer wanted is dropped.
 */
export function useApi<T>(path: string | null): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ status: "loading" });
  const [round, setRound] = useState(0);
  const shownPath = useRef<string | null>(null);
  useEffect(() => {
    if (path === null) return;
    let wanted = true;
    if (shownPath.current !== path) setLoaded({ status: "loading" });
    shownPath.current = path;
    getJson<T>(path).then(
      (data) => wanted && setLoaded({ status: "done", data }),
      (error: unknown) => wanted && setLoaded({ status: "failed", error: asApiError(error) }),
    );
    return () => {
      wanted = false;
    };
  }, [path, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return [loaded, reload];
}

export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, "error", String(error));
}
