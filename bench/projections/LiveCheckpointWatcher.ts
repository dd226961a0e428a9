import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { START, type Position } from "../../gateways/eventStore/Position.ts";
import type { ProjectionSchemas } from "../../projections/runtime/ProjectionBuilds.ts";

/** A command's answer waiting for every read model to pass its position. */
interface Awaited {
  readonly position: Position;
  readonly answeredAt: number;
}

/**
 * Measures how long after a command's answer every projection's live checkpoint (the registry's
 * `projection_builds.position`, status `live`) has passed the position the answer returned.
 * The registry is read in a tight loop (one read at a time, `pollMs` between reads, on a
 * connection of its own); a position counts as passed at the moment the first read that shows
 * it returns, so each latency is overstated by at most one read interval (`readIntervalsMs`).
 * A position already passed when its answer arrives counts 0.
 */
export class LiveCheckpointWatcher {
  readonly #client: pg.Client;
  readonly #statement: pg.QueryConfig;
  readonly #projections: readonly string[];
  readonly #pollMs: number;
  #awaited: Awaited[] = [];
  #lowest: Position = START;
  #running: Promise<void> | undefined;
  #stopping = false;
  /** Answer → all checkpoints passed, in ms, one per observed answer. */
  readonly latenciesMs: number[] = [];
  /** Between the starts of consecutive registry reads, in ms: the resolution. */
  readonly readIntervalsMs: number[] = [];
  #slowestMs = Number.NEGATIVE_INFINITY;
  #slowestAnsweredAt = Number.NaN;

  constructor(client: pg.Client, schemas: ProjectionSchemas, projections: readonly string[], pollMs: number) {
    this.#client = client;
    this.#projections = projections;
    this.#pollMs = pollMs;
    this.#statement = {
      name: "bench_live_checkpoints",
      text: `select name, position from "${schemas.runtime}".projection_builds where status = 'live'`,
    };
  }

  /** When the answer with the longest latency arrived (`performance.now()`), to place outliers. */
  get slowestAnsweredAt(): number {
    return this.#slowestAnsweredAt;
  }

  /** The lowest live checkpoint over the projections (START while one has no live build), read now. */
  async readLowest(): Promise<Position> {
    const { rows } = await this.#client.query<{ name: string; position: string }>(this.#statement);
    const live = new Map(rows.map((row) => [row.name, row.position as Position]));
    let lowest: Position | undefined;
    for (const name of this.#projections) {
      const position = live.get(name) ?? START;
      if (lowest === undefined || position < lowest) lowest = position;
    }
    return lowest ?? START;
  }

  /** Starts reading the registry in a loop. */
  start(): void {
    this.#stopping = false;
    this.#running ??= this.#follow();
  }

  /** Waits for an answer's position (`answeredAt` from `performance.now()`). */
  observe(position: Position, answeredAt: number): void {
    if (position <= this.#lowest) this.#record(0, answeredAt);
    else this.#awaited.push({ position, answeredAt });
  }

  /** Stops once every observed answer is passed, or after `timeoutMs`; how many were left waiting. */
  async stop(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.#awaited.length > 0 && performance.now() < deadline) await sleep(10);
    this.#stopping = true;
    await this.#running;
    this.#running = undefined;
    return this.#awaited.length;
  }

  #record(latencyMs: number, answeredAt: number): void {
    this.latenciesMs.push(latencyMs);
    if (latencyMs <= this.#slowestMs) return;
    this.#slowestMs = latencyMs;
    this.#slowestAnsweredAt = answeredAt;
  }

  async #follow(): Promise<void> {
    let previousStart: number | undefined;
    while (!this.#stopping) {
      const startedAt = performance.now();
      if (previousStart !== undefined) this.readIntervalsMs.push(startedAt - previousStart);
      previousStart = startedAt;
      const lowest = await this.readLowest();
      const returnedAt = performance.now();
      this.#lowest = lowest;
      if (this.#awaited.length > 0) {
        const still: Awaited[] = [];
        for (const awaited of this.#awaited) {
          if (awaited.position <= lowest)
            this.#record(Math.max(0, returnedAt - awaited.answeredAt), awaited.answeredAt);
          else still.push(awaited);
        }
        this.#awaited = still;
      }
      await sleep(this.#pollMs);
    }
  }
}
