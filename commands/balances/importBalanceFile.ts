import { createHash } from "node:crypto";
import type { RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import type { BalanceImport, BalanceImports } from "./BalanceImports.ts";
import { balanceFileRows, type BalanceFileFormat } from "./balanceFileRows.ts";
import { importBalanceRows, rowEventIds, type ImportCounts } from "./importBalanceRows.ts";

/** A balance file to import: what it is called, its digest, its format, and how to read it (again). */
export interface BalanceFile {
  readonly name: string;
  /** SHA-256 of its bytes as sent (see `digestOf`). */
  readonly digest: string;
  readonly format: BalanceFileFormat;
  readonly open: () => AsyncIterable<Buffer | string>;
}

export interface ImportBalanceFileOptions {
  readonly imports: BalanceImports;
  readonly store: EventStore;
  readonly rules: RulesInForce;
  readonly bounds?: ReferenceTimeBounds;
  readonly clock: () => number;
  readonly file: BalanceFile;
  /** Who sent it (the API key's name, or the CLI's user). */
  readonly requestedBy: string;
  readonly concurrency?: number;
  /** How far the committed row moves, at most, between two checkpoints (default 1,000 rows). */
  readonly commitEvery?: number;
  /** Told as the committed row moves on: the batch's counts, all runs together. */
  readonly onProgress?: (committedRow: number, counts: ImportCounts) => void;
  readonly signal?: AbortSignal;
}

/**
 * How an import ended: `imported` (now done), `already_imported` (the same file was imported
 * before: nothing is done twice), `busy` (another process is importing it now).
 */
export type BalanceFileImport =
  | { readonly outcome: "imported" | "already_imported"; readonly batch: BalanceImport }
  | { readonly outcome: "busy"; readonly batch: BalanceImport };

/**
 * Imports a bulk balance file as one batch, named by the file's digest: a file sent again is the
 * same batch, done once; an import that stopped part-way resumes after its last committed row.
 * Each row is recorded as a push would be (`importBalanceRows`). A failure is recorded on the
 * batch (status `failed`, resumable) and thrown.
 */
export async function importBalanceFile(options: ImportBalanceFileOptions): Promise<BalanceFileImport> {
  const { imports, file } = options;
  const { batch } = await imports.open({
    fileDigest: file.digest,
    fileName: file.name,
    format: file.format,
    requestedBy: options.requestedBy,
  });
  if (batch.status === "done") return { outcome: "already_imported", batch };
  const held = await imports.whileHolding(batch.batchId, async () => {
    // What an earlier run committed, read again under the lock.
    const current = (await imports.find(batch.batchId)) ?? batch;
    if (current.status === "done") return { outcome: "already_imported" as const, batch: current };
    const base = current.counts;
    try {
      await importBalanceRows({
        store: options.store,
        rules: options.rules,
        ...(options.bounds === undefined ? {} : { bounds: options.bounds }),
        clock: options.clock,
        rows: balanceFileRows(file.open(), file.format),
        afterRow: current.committedRow,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.commitEvery === undefined ? {} : { commitEvery: options.commitEvery }),
        metadata: () => ({ correlationId: current.batchId, actor: options.requestedBy }),
        eventIds: (row) => rowEventIds(current.batchId, Date.parse(current.startedAt), row),
        onCommitted: async (committedRow, counts, bad) => {
          const total = addCounts(base, counts);
          await imports.checkpoint(current.batchId, committedRow, total, bad);
          options.onProgress?.(committedRow, total);
        },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      await imports.finish(current.batchId, { status: "done" });
    } catch (error) {
      await imports
        .finish(current.batchId, { status: "failed", error: (error as Error).message })
        .catch(() => undefined);
      throw error;
    }
    return { outcome: "imported" as const, batch: (await imports.find(current.batchId)) ?? current };
  });
  return held?.result ?? { outcome: "busy", batch };
}

function addCounts(base: ImportCounts, run: ImportCounts): ImportCounts {
  return {
    rows: base.rows + run.rows,
    recorded: base.recorded + run.recorded,
    unchanged: base.unchanged + run.unchanged,
    refused: base.refused + run.refused,
    invalid: base.invalid + run.invalid,
  };
}

/** SHA-256 (hex) of every byte of `bytes`. */
export async function digestOf(bytes: AsyncIterable<Buffer | string> | Iterable<Buffer>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of bytes) hash.update(chunk);
  return hash.digest("hex");
}

/** The format a file's name says (`.ndjson`, `.jsonl`, `.csv`, `.xml`: camt; each optionally `.gz`); undefined otherwise. */
export function formatOfFileName(name: string): BalanceFileFormat | undefined {
  const bare = name.toLowerCase().replace(/\.gz$/, "");
  if (bare.endsWith(".ndjson") || bare.endsWith(".jsonl")) return "ndjson";
  if (bare.endsWith(".csv")) return "csv";
  if (bare.endsWith(".xml")) return "camt";
  return undefined;
}
