import { useState } from "preact/hooks";
import { allows, type Caller } from "../api.ts";
import { instant } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";
import { BacktestSection } from "./BacktestSection.tsx";
import { PublishSection } from "./PublishSection.tsx";
import { RulesetDiffSection } from "./RulesetDiffSection.tsx";
import type { RulesetVersionSummary } from "./RulesetVersionSummary.ts";

/**
 * The rules: every version of the rule set (who published it, when, why), what changed between
 * two, and for `rules:write` a backtest of a candidate and publishing it.
 */
export function RulesPage({ caller }: { readonly caller: Caller }) {
  const [versions, reload] = useApi<{ versions: readonly RulesetVersionSummary[] }>("/rules/versions");
  const [published, setPublished] = useState<number | null>(null);
  const writer = allows(caller, "rules:write");
  return (
    <section aria-labelledby="rules-title">
      <h1 id="rules-title">Rules</h1>
      {versions.status === "loading" ? <Loading what="the rule set's versions" /> : null}
      {versions.status === "failed" ? <ProblemNotice error={versions.error} /> : null}
      {published === null ? null : (
        <p role="status" data-testid="publish-outcome">
          Published as version {published}.
        </p>
      )}
      {versions.status === "done" ? (
        <>
          <VersionTable versions={versions.data.versions} />
          {/* Keyed by the newest version: a new one resets the comparison to it and the one before. */}
          <RulesetDiffSection key={versions.data.versions[0]?.version} versions={versions.data.versions} />
          {writer ? (
            <RulesetEditor
              versions={versions.data.versions}
              onPublished={(version) => {
                setPublished(version);
                reload();
              }}
            />
          ) : null}
          {writer ? null : (
            <p class="hint">Backtests and publishing need a key with the scope rules:write.</p>
          )}
        </>
      ) : null}
    </section>
  );
}

function VersionTable({ versions }: { readonly versions: readonly RulesetVersionSummary[] }) {
  return (
    <section class="card" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <table data-testid="ruleset-versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Took effect</th>
            <th scope="col">By</th>
            <th scope="col">Why</th>
            <th scope="col">Rules</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((version, index) => (
            <tr key={version.version}>
              <td>
                {version.version}
                {index === 0 ? <span class="badge qualified">in force</span> : null}
              </td>
              <td>{instant(version.publishedAt)}</td>
              <td>{version.publishedBy}</td>
              <td>{version.comment}</td>
              <td>{version.rules.map((rule) => `${rule.id} v${rule.version}`).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The candidate rule set, as JSON, that a backtest replays and publishing makes the next version. */
function RulesetEditor({
  versions,
  onPublished,
}: {
  readonly versions: readonly RulesetVersionSummary[];
  readonly onPublished: (version: number) => void;
}) {
  const latest = versions[0]?.version ?? null;
  const [current] = useApi<{ version: number; document: unknown }>(
    latest === null ? null : `/rules/versions/${latest}`,
  );
  const [edited, setEdited] = useState<string | null>(null);
  if (current.status === "loading") return <Loading what="the rule set in force" />;
  if (current.status === "failed") return <ProblemNotice error={current.error} />;
  const text = edited ?? JSON.stringify(current.data.document, null, 2);
  return (
    <section class="card" aria-labelledby="candidate-title">
      <h2 id="candidate-title">Candidate rule set</h2>
      <label for="candidate">
        The rules as JSON (the rules file's shape). A changed rule needs a higher version.
      </label>
      <textarea
        id="candidate"
        data-testid="candidate"
        rows={16}
        spellcheck={false}
        value={text}
        onInput={(event) => setEdited(event.currentTarget.value)}
      />
      <BacktestSection candidate={text} />
      <PublishSection
        candidate={text}
        againstVersion={current.data.version}
        onPublished={(version) => {
          setEdited(null);
          onPublished(version);
        }}
      />
    </section>
  );
}
