import type { ApiError } from "../api.ts";
import { ProblemNotice } from "./ProblemNotice.tsx";

/** A problem with the per-field list a refused rule set carries. */
export function ProblemListNotice({ error }: { readonly error: ApiError }) {
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
