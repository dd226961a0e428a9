import { useState } from "preact/hooks";
import { type ApiError, downloadCsv } from "../api.ts";
import { asApiError } from "../useApi.ts";
import { ProblemNotice } from "./ProblemNotice.tsx";

/** One click to a report's CSV (the same query with `format=csv`), or the problem if it failed. */
export function CsvButton({
  path,
  filename,
  label,
}: {
  readonly path: string;
  readonly filename: string;
  readonly label: string;
}) {
  const [error, setError] = useState<ApiError | null>(null);
  const download = () => {
    setError(null);
    downloadCsv(path, filename).catch((failure: unknown) => setError(asApiError(failure)));
  };
  return (
    <>
      <button type="button" class="link" onClick={download}>
        {label}
      </button>
      {error === null ? null : <ProblemNotice error={error} />}
    </>
  );
}
