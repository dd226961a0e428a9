import type { Decider } from "../domain/Decider.ts";
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  JsonObject,
} from "../gateways/eventStore/EventStore.ts";
import { WrongExpectedRevisionError } from "../gateways/eventStore/EventStoreError.ts";
import type { StateCache } from "./StateCache.ts";

/** A domain event as it is appended: its data is plain JSON. */
export interface DomainEvent {
  readonly type: string;
  readonly data: object;
}

/** What handling a command came to. */
export type CommandOutcome<Event, RefusalCode extends string> =
  | {
      readonly outcome: "accepted";
      readonly events: readonly Event[];
      /** The stream's revision after the command (-1: the stream does not exist). */
      readonly revision: number;
      /** Global position of the last appended event; absent when nothing was appended. */
      readonly position: AppendResult["position"] | undefined;
    }
  | { readonly outcome: "refused"; readonly code: RefusalCode; readonly detail: string }
  | { readonly outcome: "revision_mismatch"; readonly expected: number; readonly actual: number };

export interface HandleCommandOptions {
  /** The revision the client read (HTTP `If-Match`); a mismatch is answered, never retried. */
  readonly expectedRevision?: number;
  /** Re-decide after a concurrent write this many times; only where re-deciding is safe. */
  readonly retriesOnConflict?: number;
  /** Ids for the events, in order (deterministic in tests, random in production). */
  readonly newEventId: () => string;
  /**
   * Instead of `newEventId`: the id of the decision's event at `index`, the same whichever
   * attempt decides it (a conflict wrote nothing), so a command decided again after a crash
   * appends the ids it appended before (the store refuses them: see `DuplicateEventIdError`).
   */
  readonly eventIdAt?: (index: number) => string;
  readonly metadata: EventMetadata;
  /** Recently folded states of this decider's streams; skips the read when it is current. */
  readonly cache?: StateCache<unknown>;
}

/** Folds a stream into the decider's state; revision -1 when the stream does not exist. */
export async function loadState<State, Event extends DomainEvent>(
  store: EventStore,
  decider: Pick<Decider<State, never, Event, string>, "initialState" | "evolve">,
  streamId: string,
): Promise<{ state: State; revision: number }> {
  let state = decider.initialState();
  let revision = -1;
  for await (const recorded of store.readStream(streamId)) {
    // The store holds what the decider emitted: its type/data pairs are the decider's events.
    state = decider.evolve(state, { type: recorded.type, data: recorded.data } as unknown as Event);
    revision = recorded.revision;
  }
  return { state, revision };
}

/**
 * Folds several streams at once: in one read where the store can (`readStreams`), else one read
 * per stream. A stream that does not exist is in the map at the initial state, revision -1.
 */
export async function loadStates<State, Event extends DomainEvent>(
  store: EventStore,
  decider: Pick<Decider<State, never, Event, string>, "initialState" | "evolve">,
  streamIds: readonly string[],
): Promise<Map<string, { state: State; revision: number }>> {
  if (store.readStreams === undefined) {
    const states = await Promise.all(streamIds.map((streamId) => loadState(store, decider, streamId)));
    return new Map(
      streamIds.map((streamId, index) => [streamId, states[index] as { state: State; revision: number }]),
    );
  }
  const streams = await store.readStreams(streamIds);
  const states = new Map<string, { state: State; revision: number }>();
  for (const streamId of streamIds) {
    let state = decider.initialState();
    let revision = -1;
    for (const recorded of streams.get(streamId) ?? []) {
      state = decider.evolve(state, { type: recorded.type, data: recorded.data } as unknown as Event);
      revision = recorded.revision;
    }
    states.set(streamId, { state, revision });
  }
  return states;
}

/**
 * Load the stream → fold it → decide → append at the revision it was read at. A concurrent
 * writer makes the append fail; then, if allowed, the command is decided again on fresh state.
 */
export async function handleCommand<State, Command, Event extends DomainEvent, RefusalCode extends string>(
  store: EventStore,
  decider: Decider<State, Command, Event, RefusalCode>,
  streamId: string,
  command: Command,
  options: HandleCommandOptions,
): Promise<CommandOutcome<Event, RefusalCode>> {
  const attempts = 1 + (options.expectedRevision === undefined ? (options.retriesOnConflict ?? 0) : 0);
  const cache = options.cache as StateCache<State> | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const cached = attempt === 1 ? cache?.get(streamId) : undefined;
    let { state, revision } = cached ?? (await loadState(store, decider, streamId));
    if (
      options.expectedRevision !== undefined &&
      options.expectedRevision !== revision &&
      cached !== undefined
    ) {
      // The cache may be behind; only the stream itself can tell the client it is wrong.
      ({ state, revision } = await loadState(store, decider, streamId));
    }
    if (options.expectedRevision !== undefined && options.expectedRevision !== revision) {
      return { outcome: "revision_mismatch", expected: options.expectedRevision, actual: revision };
    }
    const decision = decider.decide(command, state);
    // A cached state may be behind the stream (an account opened since): only the stream refuses.
    if (decision.outcome === "refused" && cached !== undefined) continue;
    if (decision.outcome === "refused") return decision;
    if (decision.events.length === 0) {
      return { outcome: "accepted", events: [], revision, position: undefined };
    }
    const expected: ExpectedRevision = revision === -1 ? "no_stream" : revision;
    const toAppend: EventToAppend[] = decision.events.map((event, index) => ({
      id: options.eventIdAt?.(index) ?? options.newEventId(),
      type: event.type,
      data: event.data as JsonObject,
      metadata: options.metadata,
    }));
    try {
      const appended = await store.append(streamId, expected, toAppend);
      cache?.set(streamId, decision.events.reduce(decider.evolve, state), appended.nextRevision);
      return {
        outcome: "accepted",
        events: decision.events,
        revision: appended.nextRevision,
        position: appended.position,
      };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      cache?.delete(streamId);
      if (attempt >= attempts && cached === undefined) {
        return { outcome: "revision_mismatch", expected: revision, actual: error.actual };
      }
    }
  }
}
