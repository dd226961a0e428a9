import { useState } from "preact/hooks";
import { type ApiError, type Caller, getJson, rememberKey } from "../api.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";

/**
 * Paste an API key: it is checked against `GET /me`, then kept for this browser session only
 * (sessionStorage), never put in a URL.
 */
export function SignInPage({ onSignedIn }: { readonly onSignedIn: (caller: Caller) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const caller = await getJson<Caller>("/me", key.trim());
      rememberKey(key.trim());
      onSignedIn(caller);
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Tidemark console</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
        />
        <button type="submit" disabled={busy || key.trim() === ""}>
          Sign in
        </button>
        <p class="hint">
          The key is kept for this browser session only. On the embedded default (<code>npm start</code>), the
          development key is printed at start-up and written to <code>.tidemark/dev-api-key</code>.
        </p>
      </form>
      {error === null ? null : <ProblemNotice error={error} />}
    </main>
  );
}
