import { allows, type Caller } from "../api.ts";
import { instant } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";

interface ConsentGround {
  readonly source: string;
  readonly messageId: string | null;
  readonly at: string;
}

interface AccountView {
  readonly accountId: string;
  readonly customerId: string;
  readonly phone: string;
  readonly currency: string;
  readonly timeZone: string;
  readonly consents: Readonly<Record<"service" | "marketing", boolean>>;
  readonly consentGrounds: Readonly<Record<"service" | "marketing", ConsentGround>>;
  readonly balance: {
    readonly amount: string;
    readonly currency: string;
    readonly referenceTime: string;
  } | null;
  readonly status: string;
  readonly lastRefreshFailure: {
    readonly reason: string;
    readonly detail: string;
    readonly failedAt: string;
  } | null;
  readonly qualifications: Readonly<Record<string, number>>;
}

/** Balance as counted (type, source, bank time), consents with their grounds, status. */
export function AccountCard({ accountId, caller }: { readonly accountId: string; readonly caller: Caller }) {
  const [account] = useApi<AccountView>(`/accounts/${encodeURIComponent(accountId)}`);
  const [states] = useApi<{ balance: { balanceType: string; source: string; referenceTime: string } | null }>(
    `/accounts/${encodeURIComponent(accountId)}/rule-states`,
  );
  if (account.status === "loading") return <Loading what="the account" />;
  if (account.status === "failed") return <ProblemNotice error={account.error} />;
  const view = account.data;
  const balance = states.status === "done" ? states.data.balance : null;
  return (
    <article class="card" aria-labelledby="account-title" data-testid="account-card">
      <h2 id="account-title">Account {view.accountId}</h2>
      <dl class="facts">
        <dt>Customer</dt>
        <dd>{view.customerId}</dd>
        <dt>Phone</dt>
        <dd data-testid="account-phone">
          {view.phone}
          {allows(caller, "pii:read") ? null : <span class="note"> (masked: needs pii:read)</span>}
        </dd>
        <dt>Status</dt>
        <dd>{view.status}</dd>
        <dt>Balance</dt>
        <dd data-testid="account-balance">
          {view.balance === null ? "none counted yet" : `${view.balance.amount} ${view.balance.currency}`}
          {balance === null ? null : (
            <span class="note">
              {" "}
              {balance.balanceType},{" "}
              {balance.source === "pull" ? "read from the bank" : "pushed by core banking"}, bank time{" "}
              {instant(balance.referenceTime)}
            </span>
          )}
        </dd>
        <dt>Time zone</dt>
        <dd>{view.timeZone}</dd>
        {(["service", "marketing"] as const).map((messageClass) => (
          <>
            <dt>{messageClass === "service" ? "Service SMS" : "Marketing SMS"}</dt>
            <dd data-testid={`consent-${messageClass}`}>
              {view.consents[messageClass] ? "allowed" : "not allowed"}
              <span class="note">
                {" "}
                since {instant(view.consentGrounds[messageClass].at)},{" "}
                {groundText(view.consentGrounds[messageClass])}
              </span>
            </dd>
          </>
        ))}
        {view.lastRefreshFailure === null ? null : (
          <>
            <dt>Last refresh</dt>
            <dd>
              failed {instant(view.lastRefreshFailure.failedAt)}: {view.lastRefreshFailure.reason} (
              {view.lastRefreshFailure.detail})
            </dd>
          </>
        )}
      </dl>
    </article>
  );
}

function groundText(ground: ConsentGround): string {
  switch (ground.source) {
    case "opened":
      return "as given when the account was opened";
    case "sms-keyword":
      return `by the customer's SMS keyword${ground.messageId === null ? "" : ` (message ${ground.messageId})`}`;
    case "import":
      return "by an import";
    default:
      return "through the API";
  }
}
