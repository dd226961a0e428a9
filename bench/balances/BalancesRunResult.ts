import type { LiveImportRun } from "./measureLiveImport.ts";
import type { SinglePushRun } from "./measureSinglePush.ts";

/** What one run of the balances benchmark measured. */
export interface BalancesRunResult {
  /** The bulk import, until every balance is recorded. */
  readonly importSeconds: number;
  /** The highest RSS of the importing process (this one) during the import. */
  readonly importPeakRssMb: number;
  /** psql's \copy of the same rows into a plain table. */
  readonly copySeconds: number;
  /** Events in the import's log after the run. */
  readonly events: number;
  /** Events a second; undefined with `--rebuild 0`. */
  readonly rebuild: number | undefined;
  /** The file's first rows pushed one at a time; undefined with `--single-push-rows 0`. */
  readonly singlePush: SinglePushRun | undefined;
  /** The same file imported with the projector following; undefined with `--live 0`. */
  readonly live: LiveImportRun | undefined;
}
