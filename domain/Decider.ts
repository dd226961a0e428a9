/**
 * A decider (after Emmett): three pure functions. `decide` answers a command in a state with the
 * events that follow from it, or a refusal; `evolve` folds an event into state. No clock, random
 * or I/O: the command carries `now` and every external fact.
 */
export interface Decider<State, Command, Event, RefusalCode extends string> {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  readonly decide: (command: Command, state: State) => Decision<Event, RefusalCode>;
}

/** What `decide` answers: events to append (possibly none: an idempotent no-op), or a named refusal. */
export type Decision<Event, RefusalCode extends string> =
  | { readonly outcome: "accepted"; readonly events: readonly Event[] }
  | { readonly outcome: "refused"; readonly code: RefusalCode; readonly detail: string };

export function accepted<Event>(...events: Event[]): {
  readonly outcome: "accepted";
  readonly events: readonly Event[];
} {
  return { outcome: "accepted", events };
}

export function refused<RefusalCode extends string>(
  code: RefusalCode,
  detail: string,
): { readonly outcome: "refused"; readonly code: RefusalCode; readonly detail: string } {
  return { outcome: "refused", code, detail };
}

/** Folds events into state from the decider's initial state. */
export function stateFrom<State, Event>(
  decider: Pick<Decider<State, never, Event, string>, "initialState" | "evolve">,
  events: Iterable<Event>,
): State {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}

/** Exhaustiveness guard for `switch` over unions: a new member without a case fails to compile. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
