import { useEffect, useState } from "preact/hooks";
import { type ApiError, getJson, withQuery } from "../api.ts";
import { instant } from "../format.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";
import { routeHref } from "../useHashRoute.ts";

export interface NotificationView {
  readonly notificationId: string;
  readonly accountId: string;
  readonly messageClass: string;
  readonly rule: { readonly ruleId: string; readonly episode: number } | null;
  readonly recipient: string;
  readonly body: string | null;
  readonly status: string;
  readonly provider: string | null;
  readonly attempts: number;
  readonly suppressionReason: string | null;
  readonly deferral: { readonly reason: string; readonly until: string } | null;
  readonly requestedAt: string;
}

const STATUSES = [
  "requested",
  "suppressed",
  "deferred",
  "submitting",
  "submitted",
  "sent",
  "delivered",
  "undelivered",
  "rejected",
  "failed",
  "expired",
  "unknown",
  "cancelled",
];

interface Filter {
  readonly status: string;
  readonly ruleId: string;
  readonly provider: string;
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
}

const EMPTY: Filter = { status: "", ruleId: "", provider: "", accountId: "", from: "", to: "" };

/** Notifications with filters, a keyset page at a time. */
export function NotificationsPage() {
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [items, setItems] = useState<readonly NotificationView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = async (after: string | null) => {
    setError(null);
    try {
      const page = await getJson<{ items: readonly NotificationView[]; next: string | null }>(
        withQuery("/notifications", {
          status: filter.status,
          ruleId: filter.ruleId,
          provider: filter.provider,
          accountId: filter.accountId,
          from: filter.from === "" ? "" : `${filter.from}T00:00:00.000Z`,
          to:
            filter.to === "" ? "" : new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000).toISOString(),
          limit: 50,
          after,
        }),
      );
      setItems((shown) => (after === null ? page.items : [...shown, ...page.items]));
      setNext(page.next);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  useEffect(() => {
    void load(null);
  }, [filter]);
  return (
    <section aria-labelledby="notifications-title">
      <h1 id="notifications-title">Notifications</h1>
      <NotificationFilters filter={filter} onChange={setFilter} />
      {error === null ? null : <ProblemNotice error={error} />}
      <NotificationTable items={items} />
      {next === null ? null : (
        <button type="button" onClick={() => void load(next)}>
          More
        </button>
      )}
    </section>
  );
}

function NotificationFilters({
  filter,
  onChange,
}: {
  readonly filter: Filter;
  readonly onChange: (filter: Filter) => void;
}) {
  const [draft, setDraft] = useState(filter);
  const set = (field: keyof Filter) => (event: Event) =>
    setDraft({ ...draft, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });
  return (
    <form
      class="filters"
      aria-label="Notification filters"
      onSubmit={(event) => {
        event.preventDefault();
        onChange(draft);
      }}
    >
      <label>
        Status
        <select value={draft.status} onChange={set("status")}>
          <option value="">Any</option>
          {STATUSES.map((status) => (
            <option value={status}>{status}</option>
          ))}
        </select>
      </label>
      <label>
        Rule <input value={draft.ruleId} onInput={set("ruleId")} size={12} />
      </label>
      <label>
        Provider <input value={draft.provider} onInput={set("provider")} size={10} />
      </label>
      <label>
        Account <input value={draft.accountId} onInput={set("accountId")} size={14} />
      </label>
      <label>
        Requested from <input type="date" value={draft.from} onChange={set("from")} />
      </label>
      <label>
        to <input type="date" value={draft.to} onChange={set("to")} />
      </label>
      <button type="submit">Apply</button>
    </form>
  );
}

function NotificationTable({ items }: { readonly items: readonly NotificationView[] }) {
  if (items.length === 0) return <p class="empty">No notification matches.</p>;
  return (
    <table data-testid="notification-table">
      <caption>Oldest request first</caption>
      <thead>
        <tr>
          <th scope="col">Requested</th>
          <th scope="col">Account</th>
          <th scope="col">Rule</th>
          <th scope="col">Class</th>
          <th scope="col">Status</th>
          <th scope="col">Why</th>
          <th scope="col">Provider</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr>
            <td>{instant(item.requestedAt)}</td>
            <td>
              <a href={routeHref({ page: "customer", accountId: item.accountId })}>{item.accountId}</a>
            </td>
            <td>{item.rule === null ? "—" : `${item.rule.ruleId} #${item.rule.episode}`}</td>
            <td>{item.messageClass}</td>
            <td>
              <span class={`badge ${item.status}`}>{item.status}</span>
            </td>
            <td>
              {item.suppressionReason ??
                (item.deferral === null
                  ? ""
                  : `${item.deferral.reason} until ${instant(item.deferral.until)}`)}
            </td>
            <td>{item.provider ?? "—"}</td>
            <td>
              <a href={routeHref({ page: "notification", notificationId: item.notificationId })}>open</a>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
