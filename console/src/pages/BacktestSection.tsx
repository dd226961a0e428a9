import { useEffect, useState } from "preact/hooks";
import { type ApiError, getJson, postJson } from "../api.ts";
import { count, dayBefore } from "../format.ts";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { asApiError } from "../useApi.ts";
import { BacktestChart, type BacktestRow } from "./BacktestChart.tsx";
import { ProblemListNotice } from "../parts/ProblemListNotice.tsx";
import { CandidateNotJson, parseCandidate } from "./parseCandidate.ts";

interface Backtest {
  readonly backtestId: string;
  readonly status: "running" | "done" | "failed";
  readonly balancesReplayed: number;
  readonly error: string | null;
  readonly report: {
    readonly balancesReplayed: number;
    readonly seconds: number;
    readonly rows: readonly BacktestRow[];
    readonly gains: readonly ExplainedChange[];
    readonly losses: readonly ExplainedChange[];
  } | null;
}

interface ExplainedChange {
  readonly accountId: string;
  readonly ruleId: string;
  readonly candidate: { readonly at: string; readonly explanation: string } | null;
  readonly actual: { readonly at: string; readonly explanation: string } | null;
}

/** A backtest of the candidate over the recorded history: started, followed, then shown. */
export function BacktestSection({ candidate }: { readonly candidate: string }) {
  const [from, setFrom] = useState(dayBefore(30));
  const [to, setTo] = useState(dayBefore(-1));
  const [backtest, setBacktest] = useState<Backtest | null>(null);
  const [error, setError] = useState<ApiError | string | null>(null);
  useFollow(backtest, setBacktest, setError);
  const start = async () => {
    setError(null);
    setBacktest(null);
    try {
      const document = parseCandidate(candidate);
      setBacktest(
        await postJson<Backtest>("/rules/backtests", { document, from, to, comment: "from the console" }),
      );
    } catch (failure) {
      setError(failure instanceof CandidateNotJson ? failure.message : asApiError(failure));
    }
  };
  return (
    <section aria-labelledby="backtest-title">
      <h3 id="backtest-title">Backtest</h3>
      <p>
        <label for="backtest-from">From</label>{" "}
        <input
          id="backtest-from"
          type="date"
          value={from}
          onInput={(event) => setFrom(event.currentTarget.value)}
        />{" "}
        <label for="backtest-to">to</label>{" "}
        <input
          id="backtest-to"
          type="date"
          value={to}
          onInput={(event) => setTo(event.currentTarget.value)}
        />{" "}
        <button type="button" onClick={() => void start()} disabled={backtest?.status === "running"}>
          Run the backtest
        </button>
      </p>
      {error === null ? null : <ProblemListNotice error={error} />}
      {backtest === null ? null : <BacktestResult backtest={backtest} />}
    </section>
  );
}

/** Polls a running backtest every second until it is done or failed. */
function useFollow(
  backtest: Backtest | null,
  setBacktest: (backtest: Backtest) => void,
  setError: (error: ApiError) => void,
): void {
  useEffect(() => {
    if (backtest?.status !== "running") return;
    const timer = setTimeout(() => {
      getJson<Backtest>(`/rules/backtests/${backtest.backtestId}`).then(setBacktest, (failure: unknown) =>
        setError(asApiError(failure)),
      );
    }, 1000);
    return () => clearTimeout(timer);
  }, [backtest, setBacktest, setError]);
}

function BacktestResult({ backtest }: { readonly backtest: Backtest }) {
  if (backtest.status === "running") {
    return (
      <p role="status" aria-live="polite">
        Replaying the log: {count(backtest.balancesReplayed)} balances so far…
      </p>
    );
  }
  if (backtest.status === "failed" || backtest.report === null) {
    return <ProblemNotice error={asApiError(backtest.error ?? "the backtest failed")} />;
  }
  const { report } = backtest;
  return (
    <div data-testid="backtest-result">
      <p role="status">
        Replayed {count(report.balancesReplayed)} balances in {report.seconds.toFixed(1)} s. Each cell:
        candidate / what happened.
      </p>
      <BacktestChart rows={report.rows} />
      <BacktestTable rows={report.rows} />
      <ChangeList title="Would gain an alert" changes={report.gains} side="candidate" />
      <ChangeList title="Would lose an alert" changes={report.losses} side="actual" />
    </div>
  );
}

function BacktestTable({ rows }: { readonly rows: readonly BacktestRow[] }) {
  const suppressed = (counts: Readonly<Record<string, number>>) =>
    Object.values(counts).reduce((sum, n) => sum + n, 0);
  return (
    <table data-testid="backtest-table">
      <caption>Per day and rule</caption>
      <thead>
        <tr>
          {["Day", "Rule", "Qualified", "Requested", "Suppressed", "Deferred", "Sent"].map((heading) => (
            <th scope="col" key={heading}>
              {heading}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={`${row.day}-${row.ruleId}`}>
            <td>{row.day}</td>
            <td>{row.ruleId}</td>
            <td>{`${row.candidate.qualified} / ${row.actual.qualified}`}</td>
            <td>{`${row.candidate.requested} / ${row.actual.requested}`}</td>
            <td>{`${suppressed(row.candidate.suppressed)} / ${suppressed(row.actual.suppressed)}`}</td>
            <td>{`${row.candidate.deferred} / ${row.actual.deferred}`}</td>
            <td>{`${row.candidate.sent} / ${row.actual.sent}`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ChangeList({
  title,
  changes,
  side,
}: {
  readonly title: string;
  readonly changes: readonly ExplainedChange[];
  readonly side: "candidate" | "actual";
}) {
  if (changes.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <ul>
        {changes.map((change) => (
          <li key={`${change.accountId}-${change.ruleId}`}>
            <a href={`#/customer/${encodeURIComponent(change.accountId)}`}>{change.accountId}</a> (
            {change.ruleId}): {change[side]?.explanation ?? ""}
          </li>
        ))}
      </ul>
    </>
  );
}
