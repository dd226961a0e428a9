import type { ApiError } from "../api.ts";
import { ProblemNotice } from "./ProblemNotice.tsx";

/**
 * A problem with the per-field list a refused rule set carries; or, as text, one found before
 * anything was sent (a candidate that is not JSON).
 */
export function ProblemListNotice({ error }: { readonly error: ApiError | string }) {
  if (typeof error === "string") {
    return (
      <p class="problem" role="alert">
        {error}
      </p>
    );
  }
  return (
    <>
      <ProblemNotice error={error} />
      {error.fields.length > 0 ? (
        <ul class="problem-list">
          {error.fields.map((field) => (
            <li key={field}>{field}</li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
