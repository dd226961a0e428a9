import { useState } from "preact/hooks";
import { allows, type Caller, getJson, withQuery } from "../api.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";
import type { ApiError } from "../api.ts";
import { navigate } from "../useHashRoute.ts";
import { AccountCard } from "./AccountCard.tsx";
import { AccountTimeline } from "./AccountTimeline.tsx";
import { WhyNoAlertPanel } from "./WhyNoAlertPanel.tsx";

/**
 * Find a customer by account id (or, for holders of `pii:read`, by phone number), then read the
 * account card, the "why no alert?" panel and the timeline.
 */
export function CustomerPage({
  accountId,
  caller,
}: {
  readonly accountId: string | null;
  readonly caller: Caller;
}) {
  return (
    <section aria-labelledby="customer-title">
      <h1 id="customer-title">Customer</h1>
      <CustomerSearch caller={caller} initial={accountId ?? ""} />
      {accountId === null ? null : (
        <div class="customer" key={accountId}>
          <AccountCard accountId={accountId} caller={caller} />
          <WhyNoAlertPanel accountId={accountId} />
          <AccountTimeline accountId={accountId} />
        </div>
      )}
    </section>
  );
}

function CustomerSearch({ caller, initial }: { readonly caller: Caller; readonly initial: string }) {
  const [text, setText] = useState(initial);
  const [error, setError] = useState<ApiError | null>(null);
  const byPhone = allows(caller, "pii:read");
  const find = async (event: Event) => {
    event.preventDefault();
    const wanted = text.trim();
    setError(null);
    if (wanted === "") return;
    if (byPhone && wanted.startsWith("+")) {
      try {
        const found = await getJson<{ items: readonly { accountId: string }[] }>(
          withQuery("/accounts", { phone: wanted }),
        );
        const first = found.items[0];
        if (first === undefined)
          setError(asApiError(new Error(`No account has the phone number ${wanted}.`)));
        else navigate({ page: "customer", accountId: first.accountId });
      } catch (failure) {
        setError(asApiError(failure));
      }
      return;
    }
    navigate({ page: "customer", accountId: wanted });
  };
  return (
    <form class="search" role="search" onSubmit={(event) => void find(event)}>
      <label for="customer-search">{byPhone ? "Account id or phone number (+44…)" : "Account id"}</label>
      <input id="customer-search" value={text} onInput={(event) => setText(event.currentTarget.value)} />
      <button type="submit">Find</button>
      {error === null ? null : <ProblemNotice error={error} />}
    </form>
  );
}
