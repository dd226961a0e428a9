import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import { START, type Position } from "../../gateways/eventStore/Position.ts";
import { registry, type ProjectionSchemas } from "../runtime/ProjectionBuilds.ts";

/**
 * How far each projection's live build has got, as the query API knows it. Read from the
 * registry before a query runs, a position is a floor: the rows the query then reads are at least
 * that new. One read at a time serves every request that needs a fresher view.
 */
export class LivePositions {
  readonly #db: Kysely<unknown>;
  readonly #schemas: ProjectionSchemas;
  readonly #now: () => number;
  #positions = new Map<string, Position>();
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;

  constructor(db: Kysely<unknown>, schemas: ProjectionSchemas, now: () => number = Date.now) {
    this.#db = db;
    this.#schemas = schemas;
    this.#now = now;
  }

  /** The lowest position among `projections` (START for one without a live build), read at most `maxAgeMs` ago. */
  async current(projections: readonly string[], maxAgeMs: number): Promise<Position> {
    if (this.#now() - this.#readAt > maxAgeMs) await this.#refresh();
    return this.#lowest(projections);
  }

  /**
   * Waits until every one of `projections` has passed `position`, polling every `pollMs`;
   * the position reached, or undefined when `timeoutMs` ran out first.
   */
  async waitFor(
    projections: readonly string[],
    position: Position,
    timeoutMs: number,
    pollMs = 2,
  ): Promise<Position | undefined> {
    const deadline = this.#now() + timeoutMs;
    for (;;) {
      await this.#refresh();
      const reached = this.#lowest(projections);
      if (reached >= position) return reached;
      if (this.#now() >= deadline) return undefined;
      await sleep(pollMs);
    }
  }

  #lowest(projections: readonly string[]): Position {
    let lowest: Position | undefined;
    for (const name of projections) {
      const position = this.#positions.get(name) ?? START;
      if (lowest === undefined || position < lowest) lowest = position;
    }
    return lowest ?? START;
  }

  #refresh(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        const startedAt = this.#now();
        const rows = await registry(this.#db, this.#schemas)
          .selectFrom("projection_builds")
          .select(["name", "position"])
          .where("status", "=", "live")
          .execute();
        this.#positions = new Map(rows.map((row) => [row.name, row.position as Position]));
        this.#readAt = startedAt;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }
}
