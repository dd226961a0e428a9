import type { ApiError } from "../api.ts";

/** An API problem, said plainly, with what to do about the common ones. */
export function ProblemNotice({ error }: { readonly error: ApiError }) {
  const hint =
    error.status === 401
      ? "The API key was not accepted: sign out and paste a valid key."
      : error.status === 403
        ? "This key may not do that: ask for a key with the scope named above."
        : error.status === 503
          ? "The read model is catching up or its database is not answering; try again shortly."
          : null;
  return (
    <div class="problem" role="alert">
      <strong>{error.status === 0 ? "Not reachable" : `${error.status} ${error.code}`}</strong>
      <p>{error.message}</p>
      {hint === null ? null : <p class="hint">{hint}</p>}
    </div>
  );
}
