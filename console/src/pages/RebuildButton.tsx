import { useEffect, useState } from "preact/hooks";
import { type ApiError, getJson, postJson } from "../api.ts";
import { count } from "../format.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";

interface RebuildStatus {
  readonly rebuildId: string;
  readonly status: "running" | "done" | "failed";
  readonly processed: number;
  readonly total: number | null;
  readonly percent: number | null;
  readonly error: string | null;
}

/** Starts a blue/green rebuild (admin) and shows its progress live until it is done. */
export function RebuildButton({ name, onDone }: { readonly name: string; readonly onDone: () => void }) {
  const [rebuild, setRebuild] = useState<RebuildStatus | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (rebuild === null || rebuild.status !== "running") return;
    const timer = setTimeout(() => {
      getJson<RebuildStatus>(`/operations/rebuilds/${encodeURIComponent(rebuild.rebuildId)}`).then(
        (next) => {
          setRebuild(next);
          if (next.status !== "running") onDone();
        },
        (failure: unknown) => setError(asApiError(failure)),
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [rebuild]);
  const start = async () => {
    setError(null);
    try {
      const started = await postJson<{ rebuildId: string }>(
        `/operations/read-models/${encodeURIComponent(name)}/rebuild`,
        {},
      );
      setRebuild({
        rebuildId: started.rebuildId,
        status: "running",
        processed: 0,
        total: null,
        percent: null,
        error: null,
      });
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  const running = rebuild?.status === "running";
  return (
    <div data-testid={`rebuild-${name}`}>
      <button type="button" onClick={() => void start()} disabled={running}>
        Rebuild {name}
      </button>
      {rebuild === null ? null : (
        <div class="progress" role="status" aria-live="polite">
          <progress max={100} value={rebuild.percent ?? undefined} aria-label={`Rebuild of ${name}`} />
          <span data-testid={`rebuild-${name}-status`}>
            {rebuild.status}: {count(rebuild.processed)}
            {rebuild.total === null ? "" : ` of ${count(rebuild.total)}`} events
            {rebuild.error === null ? "" : ` (${rebuild.error})`}
          </span>
        </div>
      )}
      {error === null ? null : <ProblemNotice error={error} />}
    </div>
  );
}
