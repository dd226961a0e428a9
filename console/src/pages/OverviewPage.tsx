import { useMemo, useState } from "preact/hooks";
import { withQuery } from "../api.ts";
import { CsvButton } from "../parts/CsvButton.tsx";
import { count, dayBefore, duration, percent } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { Stat } from "../parts/Stat.tsx";
import { type FunnelRow, funnelByDay, funnelTotals, type ProviderRow, type Report } from "../reports.ts";
import { useApi } from "../useApi.ts";
import { FunnelChart } from "./FunnelChart.tsx";

interface OverviewFilter {
  readonly from: string;
  readonly to: string;
  readonly ruleId: string;
  readonly messageClass: string;
  readonly provider: string;
}

/**
 * The funnel over a chosen range: the figures are sums of `/reports/funnel` rows (and the provider
 * table is `/reports/providers`), so every number equals what the report API answers.
 */
export function OverviewPage() {
  const [filter, setFilter] = useState<OverviewFilter>({
    from: dayBefore(6),
    to: dayBefore(0),
    ruleId: "",
    messageClass: "",
    provider: "",
  });
  const funnelPath = withQuery("/reports/funnel", {
    from: filter.from,
    to: filter.to,
    ruleId: filter.ruleId,
    messageClass: filter.messageClass,
  });
  const providerPath = withQuery("/reports/providers", {
    from: filter.from,
    to: filter.to,
    provider: filter.provider,
  });
  const [funnel] = useApi<Report<FunnelRow>>(funnelPath);
  const [providers] = useApi<Report<ProviderRow>>(providerPath);
  const [rules] = useApi<{ rules: readonly { id: string }[] }>("/operations/rules");
  const ruleIds = rules.status === "done" ? [...new Set(rules.data.rules.map((rule) => rule.id))] : [];
  const providerNames =
    providers.status === "done" ? [...new Set(providers.data.rows.map((row) => row.provider))] : [];
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <OverviewFilters filter={filter} onChange={setFilter} ruleIds={ruleIds} providers={providerNames} />
      {funnel.status === "loading" ? <Loading what="the funnel" /> : null}
      {funnel.status === "failed" ? <ProblemNotice error={funnel.error} /> : null}
      {funnel.status === "done" ? (
        <FunnelSection report={funnel.data} csvPath={withQuery(funnelPath, { format: "csv" })} />
      ) : null}
      {providers.status === "failed" ? <ProblemNotice error={providers.error} /> : null}
      {providers.status === "done" ? (
        <ProviderSection report={providers.data} csvPath={withQuery(providerPath, { format: "csv" })} />
      ) : null}
    </section>
  );
}

function OverviewFilters({
  filter,
  onChange,
  ruleIds,
  providers,
}: {
  readonly filter: OverviewFilter;
  readonly onChange: (filter: OverviewFilter) => void;
  readonly ruleIds: readonly string[];
  readonly providers: readonly string[];
}) {
  const set = (field: keyof OverviewFilter) => (event: Event) =>
    onChange({ ...filter, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });
  return (
    <form class="filters" aria-label="Report filters" onSubmit={(event) => event.preventDefault()}>
      <label>
        From{" "}
        <input
          type="date"
          value={filter.from}
          max={filter.to}
          onChange={set("from")}
          data-testid="filter-from"
        />
      </label>
      <label>
        To{" "}
        <input type="date" value={filter.to} min={filter.from} onChange={set("to")} data-testid="filter-to" />
      </label>
      <label>
        Rule
        <select value={filter.ruleId} onChange={set("ruleId")} data-testid="filter-rule">
          <option value="">All rules</option>
          {ruleIds.map((id) => (
            <option value={id}>{id}</option>
          ))}
        </select>
      </label>
      <label>
        Class
        <select value={filter.messageClass} onChange={set("messageClass")} data-testid="filter-class">
          <option value="">All classes</option>
          <option value="service">service</option>
          <option value="marketing">marketing</option>
        </select>
      </label>
      <label>
        Provider
        <select value={filter.provider} onChange={set("provider")} data-testid="filter-provider">
          <option value="">All providers</option>
          {providers.map((name) => (
            <option value={name}>{name}</option>
          ))}
        </select>
      </label>
    </form>
  );
}

function FunnelSection({
  report,
  csvPath,
}: {
  readonly report: Report<FunnelRow>;
  readonly csvPath: string;
}) {
  const totals = useMemo(() => funnelTotals(report.rows), [report]);
  const days = useMemo(() => funnelByDay(report.rows, report.from, report.to), [report]);
  return (
    <section aria-labelledby="funnel-title">
      <h2 id="funnel-title">
        Funnel, {report.from} to {report.to}
      </h2>
      <dl class="stats">
        <Stat label="Qualified" value={count(totals.qualified)} testId="total-qualified" />
        <Stat label="Requested" value={count(totals.requested)} testId="total-requested" />
        <Stat
          label="Suppressed"
          value={count(totals.suppressed)}
          testId="total-suppressed"
          note={`opted out ${count(totals.suppressedOptedOut)} · cap ${count(totals.suppressedFrequencyCap)} · recovered ${count(totals.suppressedBalanceRecovered)} · duplicate ${count(totals.suppressedDuplicate)} · stale ${count(totals.suppressedStaleBalance)}`}
        />
        <Stat label="Deferred" value={count(totals.deferred)} testId="total-deferred" />
        <Stat label="Submitted" value={count(totals.submitted)} testId="total-submitted" />
        <Stat label="Delivered" value={count(totals.delivered)} testId="total-delivered" />
        <Stat label="Undelivered" value={count(totals.undelivered)} testId="total-undelivered" />
        <Stat
          label="Failed"
          value={count(totals.failed + totals.rejected)}
          testId="total-failed"
          note={`rejected ${count(totals.rejected)}`}
        />
        <Stat
          label="Expired"
          value={count(totals.expired)}
          testId="total-expired"
          note={`unknown ${count(totals.unknown)}`}
        />
        <Stat
          label="Delivery rate"
          value={percent(totals.deliveryRate)}
          testId="total-delivery-rate"
          note="delivered / submitted"
        />
      </dl>
      <FunnelChart days={days} />
      <CsvButton path={csvPath} filename="funnel.csv" label="Download the funnel as CSV" />
      <FunnelDayTable rows={report.rows} />
    </section>
  );
}

function FunnelDayTable({ rows }: { readonly rows: readonly FunnelRow[] }) {
  if (rows.length === 0)
    return (
      <p class="empty">
        Nothing happened in this range. Load a demo history with <code>npm run demo</code>.
      </p>
    );
  return (
    <table data-testid="funnel-table">
      <caption>Per day, rule and class: delivery rate and requested-to-delivered latency</caption>
      <thead>
        <tr>
          <th scope="col">Day</th>
          <th scope="col">Rule</th>
          <th scope="col">Class</th>
          <th scope="col">Qualified</th>
          <th scope="col">Requested</th>
          <th scope="col">Delivered</th>
          <th scope="col">Rate</th>
          <th scope="col">p50</th>
          <th scope="col">p95</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr>
            <td>{row.day}</td>
            <td>{row.ruleId === "" ? "none (API)" : row.ruleId}</td>
            <td>{row.messageClass}</td>
            <td>{count(row.qualified)}</td>
            <td>{count(row.requested)}</td>
            <td>{count(row.delivered)}</td>
            <td>{percent(row.deliveryRate)}</td>
            <td>{duration(row.latencyP50Ms)}</td>
            <td>{duration(row.latencyP95Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ProviderSection({
  report,
  csvPath,
}: {
  readonly report: Report<ProviderRow>;
  readonly csvPath: string;
}) {
  return (
    <section aria-labelledby="providers-title">
      <h2 id="providers-title">Providers</h2>
      <CsvButton path={csvPath} filename="providers.csv" label="Download the provider report as CSV" />
      {report.rows.length === 0 ? (
        <p class="empty">No message was submitted in this range.</p>
      ) : (
        <table data-testid="provider-table">
          <caption>Per day and provider</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Provider</th>
              <th scope="col">Submitted</th>
              <th scope="col">Delivered</th>
              <th scope="col">Undelivered</th>
              <th scope="col">Failed</th>
              <th scope="col">Rate</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
            </tr>
          </thead>
          <tbody>
            {report.rows.map((row) => (
              <tr>
                <td>{row.day}</td>
                <td>{row.provider}</td>
                <td>{count(row.submitted)}</td>
                <td>{count(row.delivered)}</td>
                <td>{count(row.undelivered)}</td>
                <td>{count(row.failed + row.rejected)}</td>
                <td>{percent(row.deliveryRate)}</td>
                <td>{duration(row.latencyP50Ms)}</td>
                <td>{duration(row.latencyP95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
