import { allows, type Caller } from "../api.ts";
import { count, instant } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";
import { DeadLettersSection } from "./DeadLettersSection.tsx";
import { RebuildButton } from "./RebuildButton.tsx";

interface ReadModel {
  readonly name: string;
  readonly version: number;
  readonly status: string;
  readonly liveBuild: {
    readonly version: number;
    readonly checkpoint: string;
    readonly lagEvents: number | null;
  } | null;
  readonly builds: readonly {
    readonly version: number;
    readonly checkpoint: string;
    readonly status: string;
  }[];
  readonly lastError: { readonly message: string; readonly at: string } | null;
}

interface ProviderHealth {
  readonly provider: string;
  readonly submissions: number;
  readonly accepted: number;
  readonly failed: number;
  readonly failovers: number;
  readonly delivered: number;
  readonly undelivered: number;
  readonly lastFailure: { readonly errorCode: string; readonly at: string } | null;
}

/** Is everything current, is anything stuck: read models, dead letters, providers, the log's head, the rules. */
export function OperationsPage({ caller }: { readonly caller: Caller }) {
  const [readModels, reload] = useApi<{ eventLogHead: string | null; readModels: readonly ReadModel[] }>(
    "/operations/read-models",
  );
  const admin = allows(caller, "admin");
  return (
    <section aria-labelledby="operations-title">
      <h1 id="operations-title">Operations</h1>
      <section class="card" aria-labelledby="read-models-title">
        <h2 id="read-models-title">Read models</h2>
        {readModels.status === "loading" ? <Loading what="the read models" /> : null}
        {readModels.status === "failed" ? <ProblemNotice error={readModels.error} /> : null}
        {readModels.status === "done" ? (
          <>
            <p>
              Event log head: <code data-testid="log-head">{readModels.data.eventLogHead ?? "empty"}</code>{" "}
              <button type="button" onClick={reload}>
                Refresh
              </button>
            </p>
            <ReadModelTable readModels={readModels.data.readModels} admin={admin} onRebuilt={reload} />
          </>
        ) : null}
      </section>
      <DeadLettersSection admin={admin} />
      <ProvidersSection />
      <RulesSection />
    </section>
  );
}

function ReadModelTable({
  readModels,
  admin,
  onRebuilt,
}: {
  readonly readModels: readonly ReadModel[];
  readonly admin: boolean;
  readonly onRebuilt: () => void;
}) {
  return (
    <table data-testid="read-models">
      <caption>Status, lag and live build of each read model</caption>
      <thead>
        <tr>
          <th scope="col">Read model</th>
          <th scope="col">Status</th>
          <th scope="col">Live build</th>
          <th scope="col">Lag (events)</th>
          <th scope="col">Checkpoint</th>
          <th scope="col">Last error</th>
          {admin ? <th scope="col">Rebuild</th> : null}
        </tr>
      </thead>
      <tbody>
        {readModels.map((model) => (
          <tr data-testid={`read-model-${model.name}`}>
            <th scope="row">{model.name}</th>
            <td>{model.status}</td>
            <td>{model.liveBuild === null ? "none" : `v${model.liveBuild.version}`}</td>
            <td>{count(model.liveBuild?.lagEvents)}</td>
            <td>
              <code>{model.liveBuild?.checkpoint ?? "—"}</code>
            </td>
            <td>
              {model.lastError === null
                ? "none"
                : `${instant(model.lastError.at)}: ${model.lastError.message}`}
            </td>
            {admin ? (
              <td>
                <RebuildButton name={model.name} onDone={onRebuilt} />
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ProvidersSection() {
  const [health] = useApi<{ since: string; providers: readonly ProviderHealth[] }>(
    "/operations/providers?hours=24",
  );
  return (
    <section class="card" aria-labelledby="providers-health-title">
      <h2 id="providers-health-title">SMS providers, last 24 hours</h2>
      {health.status === "failed" ? <ProblemNotice error={health.error} /> : null}
      {health.status === "done" ? (
        health.data.providers.length === 0 ? (
          <p class="empty">No submission in the last 24 hours.</p>
        ) : (
          <table data-testid="provider-health">
            <caption>Since {instant(health.data.since)}</caption>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Submissions</th>
                <th scope="col">Accepted</th>
                <th scope="col">Failed</th>
                <th scope="col">Failovers</th>
                <th scope="col">Delivered</th>
                <th scope="col">Undelivered</th>
                <th scope="col">Last failure</th>
              </tr>
            </thead>
            <tbody>
              {health.data.providers.map((row) => (
                <tr>
                  <th scope="row">{row.provider}</th>
                  <td>{count(row.submissions)}</td>
                  <td>{count(row.accepted)}</td>
                  <td>{count(row.failed)}</td>
                  <td>{count(row.failovers)}</td>
                  <td>{count(row.delivered)}</td>
                  <td>{count(row.undelivered)}</td>
                  <td>
                    {row.lastFailure === null
                      ? "none"
                      : `${row.lastFailure.errorCode} at ${instant(row.lastFailure.at)}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}

interface RuleInForce {
  readonly id: string;
  readonly version: number;
  readonly kind: string;
  readonly messageClass: string;
  readonly currency: string;
  readonly threshold: { readonly amount: string; readonly currency: string };
  readonly rearmAbove?: { readonly amount: string };
  readonly days?: number;
  readonly cooldownHours: number;
  readonly quietHours: { readonly start: string; readonly end: string } | null;
  readonly creditLines: string;
}

function RulesSection() {
  const [rules] = useApi<{ rules: readonly RuleInForce[] }>("/operations/rules");
  return (
    <section class="card" aria-labelledby="rules-title">
      <h2 id="rules-title">Rules in force</h2>
      {rules.status === "failed" ? <ProblemNotice error={rules.error} /> : null}
      {rules.status === "done" ? (
        <table data-testid="rules-in-force">
          <caption>One row per rule and currency, as loaded at start-up</caption>
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Class</th>
              <th scope="col">Currency</th>
              <th scope="col">Fires when</th>
              <th scope="col">Cooldown</th>
              <th scope="col">Quiet hours</th>
              <th scope="col">Credit lines</th>
            </tr>
          </thead>
          <tbody>
            {rules.data.rules.map((rule) => (
              <tr>
                <th scope="row">
                  {rule.id} v{rule.version}
                </th>
                <td>{rule.messageClass}</td>
                <td>{rule.currency}</td>
                <td>{ruleCondition(rule)}</td>
                <td>{rule.cooldownHours} h</td>
                <td>
                  {rule.quietHours === null ? "none" : `${rule.quietHours.start}–${rule.quietHours.end}`}
                </td>
                <td>{rule.creditLines}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function ruleCondition(rule: RuleInForce): string {
  return rule.kind === "below"
    ? `below ${rule.threshold.amount}; re-arms above ${rule.rearmAbove?.amount ?? "?"}`
    : `at or above ${rule.threshold.amount} for ${rule.days ?? "?"} days`;
}
