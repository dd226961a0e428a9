import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import type { RulesInForce } from "../../domain/ruleset/RuleBook.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { BalanceFileError } from "./BalanceFileRow.ts";
import type { BalanceImport, BalanceImports } from "./BalanceImports.ts";
import type { BalanceFileFormat } from "./balanceFileRows.ts";
import { importBalanceFile } from "./importBalanceFile.ts";

export interface BalanceImportRunnerOptions {
  readonly imports: BalanceImports;
  readonly store: EventStore;
  readonly rules: RulesInForce;
  readonly bounds?: ReferenceTimeBounds;
  readonly clock: () => number;
  /** Where files sent over HTTP are kept until their import is done. */
  readonly directory: string;
  /** The largest file accepted, in bytes as sent. */
  readonly maxBytes: number;
  readonly logger: Logger;
}

/** A file sent that was too large: nothing of it is kept. */
export class BalanceFileTooLarge extends Error {}

/**
 * Imports the balance files sent to the command API, in the background of the process that
 * received them. A file is first written whole to `directory` (hashed on the way, so the batch is
 * known before any row is decided), then imported from there; it is deleted once done. A process
 * that starts again resumes the imports whose files it still holds (`resumeUnfinished`).
 */
export class BalanceImportRunner {
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(private readonly options: BalanceImportRunnerOptions) {}

  /**
   * Keeps the file `body` and starts its import; or, for a file imported before, answers that
   * batch and keeps nothing (`created` false, status `done`).
   * @throws BalanceFileTooLarge past `maxBytes` (nothing kept).
   */
  async accept(file: {
    readonly body: Readable;
    /** The size the sender announced (Content-Length), if it did. */
    readonly announcedBytes?: number;
    readonly name: string;
    readonly format: BalanceFileFormat;
    readonly requestedBy: string;
  }): Promise<BalanceImport> {
    const { directory, maxBytes } = this.options;
    if (file.announcedBytes !== undefined && file.announcedBytes > maxBytes) {
      throw new BalanceFileTooLarge(`the file is larger than ${maxBytes} bytes`);
    }
    await mkdir(directory, { recursive: true });
    const partial = path.join(directory, `${randomUUID()}.partial`);
    const hash = createHash("sha256");
    let bytes = 0;
    try {
      await pipeline(
        file.body,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            bytes += chunk.length;
            if (bytes > maxBytes) throw new BalanceFileTooLarge(`the file is larger than ${maxBytes} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(partial),
      );
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    const digest = hash.digest("hex");
    const { batch } = await this.options.imports.open({
      fileDigest: digest,
      fileName: file.name,
      format: file.format,
      requestedBy: file.requestedBy,
    });
    if (batch.status === "done") {
      await rm(partial, { force: true });
      return batch;
    }
    await rename(partial, this.#fileOf(batch));
    this.#start(batch);
    return batch;
  }

  /** Starts again every unfinished import whose file this process holds. */
  async resumeUnfinished(): Promise<void> {
    for (const batch of await this.options.imports.list(1000)) {
      if (batch.status === "done" || this.#running.has(batch.batchId)) continue;
      const held = await this.#heldFileOf(batch);
      if (held !== undefined) this.#start(batch, held);
    }
  }

  /** Stops the imports under way (each stays resumable), waiting for them. */
  async stop(): Promise<void> {
    for (const { controller } of this.#running.values()) controller.abort(new Error("the process stopped"));
    await Promise.all([...this.#running.values()].map(({ done }) => done));
  }

  /** Resolves once no import runs in this process (tests). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running.values()].map(({ done }) => done));
  }

  /** Where a batch's file is kept: its digest and format (the same bytes may be sent as two formats). */
  #fileOf(batch: Pick<BalanceImport, "fileDigest" | "format">): string {
    return path.join(this.options.directory, `${batch.fileDigest}.${batch.format}.balances`);
  }

  /** The batch's kept file, under its name or the one files had before formats were in it. */
  async #heldFileOf(batch: BalanceImport): Promise<string | undefined> {
    for (const file of [
      this.#fileOf(batch),
      path.join(this.options.directory, `${batch.fileDigest}.balances`),
    ]) {
      if ((await stat(file).catch(() => undefined))?.isFile() === true) return file;
    }
    return undefined;
  }

  #start(batch: BalanceImport, file = this.#fileOf(batch)): void {
    if (this.#running.has(batch.batchId)) return;
    const controller = new AbortController();
    const logger = this.options.logger.child({ batchId: batch.batchId, file: batch.fileName });
    const done = importBalanceFile({
      imports: this.options.imports,
      store: this.options.store,
      rules: this.options.rules,
      ...(this.options.bounds === undefined ? {} : { bounds: this.options.bounds }),
      clock: this.options.clock,
      file: {
        name: batch.fileName,
        digest: batch.fileDigest,
        format: batch.format,
        open: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
      },
      requestedBy: batch.requestedBy,
      signal: controller.signal,
    })
      .then(async (result) => {
        if (result.outcome === "busy") return;
        logger.info({ counts: result.batch.counts }, "balance file imported");
        await rm(file, { force: true });
      })
      .catch(async (error: unknown) => {
        if (error instanceof BalanceFileError) {
          // The file itself cannot be read (its header, its compression, not a report): reading it
          // again would fail again, so it is not kept to resume at every start.
          logger.warn({ err: error }, "balance file cannot be read; its batch failed and is not resumed");
          await rm(file, { force: true }).catch(() => undefined);
          return;
        }
        logger.warn({ err: error }, "balance file import stopped; it resumes when the process starts again");
      })
      .finally(() => this.#running.delete(batch.batchId));
    this.#running.set(batch.batchId, { controller, done });
  }
}
