import { useState } from "preact/hooks";
import { type ApiError, postJson } from "../api.ts";
import { count, instant } from "../format.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError, useApi } from "../useApi.ts";

interface DeadLetter {
  readonly consumer: string;
  readonly eventId: string;
  readonly eventType: string | null;
  readonly streamId: string | null;
  readonly error: string | null;
  readonly failedAt: string | null;
  readonly attempts: number | null;
}

/** Events a consumer gave up on; an admin hands them back. */
export function DeadLettersSection({ admin }: { readonly admin: boolean }) {
  const [letters, reload] = useApi<{ items: readonly DeadLetter[] }>("/operations/dead-letters?limit=100");
  const [error, setError] = useState<ApiError | null>(null);
  const requeue = async (letter: DeadLetter) => {
    setError(null);
    try {
      await postJson(`/operations/dead-letters/${encodeURIComponent(letter.consumer)}/requeue`, {
        eventIds: [letter.eventId],
      });
      reload();
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  return (
    <section class="card" aria-labelledby="dead-letters-title">
      <h2 id="dead-letters-title">Dead letters</h2>
      {error === null ? null : <ProblemNotice error={error} />}
      {letters.status === "failed" ? <ProblemNotice error={letters.error} /> : null}
      {letters.status === "done" && letters.data.items.length === 0 ? (
        <p class="empty" data-testid="dead-letters-empty">
          None: every consumer is keeping up.
        </p>
      ) : null}
      {letters.status === "done" && letters.data.items.length > 0 ? (
        <table data-testid="dead-letters">
          <caption>{count(letters.data.items.length)} dead letters</caption>
          <thead>
            <tr>
              <th scope="col">Consumer</th>
              <th scope="col">Event</th>
              <th scope="col">Stream</th>
              <th scope="col">Error</th>
              <th scope="col">Failed at</th>
              <th scope="col">Attempts</th>
              {admin ? <th scope="col">Requeue</th> : null}
            </tr>
          </thead>
          <tbody>
            {letters.data.items.map((letter) => (
              <tr>
                <td>{letter.consumer}</td>
                <td>
                  {letter.eventType ?? "?"} <code>{letter.eventId}</code>
                </td>
                <td>{letter.streamId ?? "—"}</td>
                <td>{letter.error ?? "—"}</td>
                <td>{instant(letter.failedAt)}</td>
                <td>{count(letter.attempts)}</td>
                {admin ? (
                  <td>
                    <button type="button" onClick={() => void requeue(letter)}>
                      Requeue
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
