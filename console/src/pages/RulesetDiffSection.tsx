import { useState } from "preact/hooks";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";
import type { RulesetVersionSummary } from "./RulesetVersionSummary.ts";

interface RulesetDiff {
  readonly added: readonly { readonly id: string }[];
  readonly removed: readonly { readonly id: string }[];
  readonly changed: readonly {
    readonly id: string;
    readonly changes: readonly { readonly path: string; readonly from: unknown; readonly to: unknown }[];
  }[];
  readonly unchanged: readonly string[];
}

/** What changed from one version to another: by default the one in force against the one before. */
export function RulesetDiffSection({ versions }: { readonly versions: readonly RulesetVersionSummary[] }) {
  const newest = versions[0]?.version ?? 1;
  const [to, setTo] = useState(newest);
  const [from, setFrom] = useState(Math.max(1, newest - 1));
  const [diff] = useApi<RulesetDiff>(versions.length < 2 ? null : `/rules/diff?from=${from}&to=${to}`);
  if (versions.length < 2) return null;
  const choice = (id: string, value: number, set: (value: number) => void) => (
    <select id={id} value={String(value)} onChange={(event) => set(Number(event.currentTarget.value))}>
      {versions.map((version) => (
        <option key={version.version} value={String(version.version)}>
          version {version.version}
        </option>
      ))}
    </select>
  );
  return (
    <section class="card" aria-labelledby="diff-title">
      <h2 id="diff-title">What changed</h2>
      <p>
        <label for="diff-from">From</label> {choice("diff-from", from, setFrom)}{" "}
        <label for="diff-to">to</label> {choice("diff-to", to, setTo)}
      </p>
      {diff.status === "loading" ? <Loading what="the differences" /> : null}
      {diff.status === "failed" ? <ProblemNotice error={diff.error} /> : null}
      {diff.status === "done" ? <DiffList diff={diff.data} /> : null}
    </section>
  );
}

function DiffList({ diff }: { readonly diff: RulesetDiff }) {
  const show = (value: unknown) =>
    value === null ? "—" : typeof value === "string" ? value : JSON.stringify(value);
  return (
    <ul data-testid="ruleset-diff">
      {diff.added.map((rule) => (
        <li key={`added-${rule.id}`}>Added: {rule.id}</li>
      ))}
      {diff.removed.map((rule) => (
        <li key={`removed-${rule.id}`}>Removed: {rule.id}</li>
      ))}
      {diff.changed.flatMap((rule) =>
        rule.changes.map((change) => (
          <li key={`${rule.id}-${change.path}`}>
            {rule.id}: <code>{change.path}</code> {show(change.from)} → {show(change.to)}
          </li>
        )),
      )}
      {diff.unchanged.length > 0 ? <li>Unchanged: {diff.unchanged.join(", ")}</li> : null}
    </ul>
  );
}
