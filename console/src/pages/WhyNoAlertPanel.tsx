import { instant } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";
import { routeHref } from "../useHashRoute.ts";

interface RuleStateView {
  readonly ruleId: string;
  readonly ruleVersion: number | null;
  readonly messageClass: string | null;
  readonly state: "armed" | "held" | "accruing" | "qualified" | "not-applicable";
  readonly episode: number;
  readonly since: string | null;
  readonly lastNotification: {
    readonly notificationId: string;
    readonly outcome: string;
    readonly reason: string | null;
  } | null;
  readonly explanation: string;
}

const STATE_LABELS: Readonly<Record<RuleStateView["state"], string>> = {
  armed: "Armed",
  held: "Held",
  accruing: "Accruing",
  qualified: "Fired",
  "not-applicable": "Not applicable",
};

/** "Why no alert?": each rule's state now, in a sentence support can read out. */
export function WhyNoAlertPanel({ accountId }: { readonly accountId: string }) {
  const [states] = useApi<{ status: string; rules: readonly RuleStateView[] }>(
    `/accounts/${encodeURIComponent(accountId)}/rule-states`,
  );
  return (
    <section class="card" aria-labelledby="why-title" data-testid="why-panel">
      <h2 id="why-title">Why (no) alert?</h2>
      {states.status === "loading" ? <Loading what="the rules' states" /> : null}
      {states.status === "failed" ? <ProblemNotice error={states.error} /> : null}
      {states.status === "done" && states.data.status !== "open" ? (
        <p>The account is {states.data.status}: no rule applies.</p>
      ) : null}
      {states.status === "done" ? (
        <ul class="rules">
          {states.data.rules.map((rule) => (
            <li data-testid={`rule-${rule.ruleId}`} data-state={rule.state}>
              <span class={`badge ${rule.state}`}>{STATE_LABELS[rule.state]}</span>
              <strong>{rule.ruleId}</strong>
              {rule.ruleVersion === null ? null : (
                <span class="note">
                  {" "}
                  v{rule.ruleVersion}, {rule.messageClass}
                </span>
              )}
              <p>{rule.explanation}</p>
              {rule.lastNotification === null ? null : (
                <p class="note">
                  Episode {rule.episode}
                  {rule.since === null ? "" : ` at ${instant(rule.since)}`}:{" "}
                  <a
                    href={routeHref({
                      page: "notification",
                      notificationId: rule.lastNotification.notificationId,
                    })}
                  >
                    its SMS
                  </a>{" "}
                  — {rule.lastNotification.outcome}
                </p>
              )}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
