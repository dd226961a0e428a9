import { useEffect, useState } from "preact/hooks";
import { type ApiError, getJson, withQuery } from "../api.ts";
import { instant } from "../format.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";
import { routeHref } from "../useHashRoute.ts";

interface TimelineEntry {
  readonly position: string;
  readonly type: string;
  readonly at: string | null;
  readonly notificationId: string | null;
  readonly explanation: string;
}

const PAGE = 100;

/** Everything that happened to the account, newest first, a page at a time (keyset by position). */
export function AccountTimeline({ accountId }: { readonly accountId: string }) {
  const [entries, setEntries] = useState<readonly TimelineEntry[]>([]);
  const [next, setNext] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const load = async (after: string | undefined) => {
    try {
      const page = await getJson<{ items: readonly TimelineEntry[]; next: string | null }>(
        withQuery(`/accounts/${encodeURIComponent(accountId)}/timeline`, {
          order: "desc",
          limit: PAGE,
          after,
        }),
      );
      setEntries((shown) => (after === undefined ? page.items : [...shown, ...page.items]));
      setNext(page.next);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  useEffect(() => {
    void load(undefined);
  }, [accountId]);
  return (
    <section class="card timeline" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      {error === null ? null : <ProblemNotice error={error} />}
      <ol data-testid="timeline">
        {entries.map((entry) => (
          <li data-type={entry.type}>
            <time dateTime={entry.at ?? undefined}>{instant(entry.at)}</time>
            <span class="event-type">{entry.type}</span>
            <p>{entry.explanation}</p>
            <span class="note">
              position {entry.position}
              {entry.notificationId === null ? null : (
                <>
                  {" · "}
                  <a href={routeHref({ page: "notification", notificationId: entry.notificationId })}>
                    notification
                  </a>
                </>
              )}
            </span>
          </li>
        ))}
      </ol>
      {next === null || next === undefined ? null : (
        <button type="button" onClick={() => void load(next)}>
          Older events
        </button>
      )}
    </section>
  );
}
