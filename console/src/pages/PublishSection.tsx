import { useState } from "preact/hooks";
import { type ApiError, postJson } from "../api.ts";
import { asApiError } from "../useApi.ts";
import { ProblemListNotice } from "../parts/ProblemListNotice.tsx";
import { CandidateNotJson, parseCandidate } from "./parseCandidate.ts";

/** Publishing the candidate as the next version, written against the version in force (If-Match). */
export function PublishSection({
  candidate,
  againstVersion,
  onPublished,
}: {
  readonly candidate: string;
  readonly againstVersion: number;
  /** A new version was published: the page shows it (this section is made again for it). */
  readonly onPublished: (version: number) => void;
}) {
  const [comment, setComment] = useState("");
  const [outcome, setOutcome] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | string | null>(null);
  const publish = async () => {
    setError(null);
    setOutcome(null);
    try {
      const answer = await postJson<{ version: number; changed: boolean }>(
        "/rules/versions",
        { document: parseCandidate(candidate), comment },
        { "if-match": `"${againstVersion}"` },
      );
      if (answer.changed) onPublished(answer.version);
      else setOutcome(`Unchanged: version ${answer.version} is already these rules.`);
    } catch (failure) {
      setError(failure instanceof CandidateNotJson ? failure.message : asApiError(failure));
    }
  };
  return (
    <section aria-labelledby="publish-title">
      <h3 id="publish-title">Publish</h3>
      <label for="publish-comment">Why (kept with the version)</label>
      <input
        id="publish-comment"
        type="text"
        value={comment}
        onInput={(event) => setComment(event.currentTarget.value)}
      />
      <button type="button" onClick={() => void publish()} disabled={comment.trim() === ""}>
        Publish as the next version (written against version {againstVersion})
      </button>
      {outcome === null ? null : <p role="status">{outcome}</p>}
      {error === null ? null : <ProblemListNotice error={error} />}
    </section>
  );
}
