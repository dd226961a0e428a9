import { stateFrom, type Decider, type Decision } from "./Decider.ts";

/**
 * The two assertions of a test's context (ava's `t`) a specification uses: taken as an argument,
 * so this test support stays within `domain/` and imports nothing else.
 */
export interface SpecificationAssertions {
  deepEqual(actual: unknown, expected: unknown, message?: string): unknown;
  like(value: unknown, selector: Readonly<Record<string, unknown>>, message?: string): unknown;
}

/**
 * Tests of a decider, after Emmett's `DeciderSpecification`: `spec(t).given(events).when(command)
 * .then(events)` asserts through the test's `t`; `spec.given(events).whenAll(commands)` plays
 * commands for a test's setup and asserts nothing. For tests only.
 */
export interface DeciderSpecification<Command, Event, RefusalCode extends string> {
  (t: SpecificationAssertions): {
    /** The stream so far, oldest first: the decider decides in the state they fold into. */
    given(...history: Event[]): { when(command: Command): ThenDecision<Event, RefusalCode> };
  };
  given(...history: Event[]): {
    /**
     * Decides each command in turn on the history and what the commands before it appended, and
     * returns all they appended. A refusal throws: a setup that does not hold is not a test.
     */
    whenAll(commands: readonly Command[]): Event[];
  };
}

/** What a test asserts of the decision on one command. */
export interface ThenDecision<Event, RefusalCode extends string> {
  /** Accepted, appending exactly `events`. */
  then(events: readonly Event[], message?: string): void;
  /** Accepted, appending nothing: an idempotent no-op. */
  thenNothing(message?: string): void;
  /** Accepted, whatever it appends; returns what it appends for closer assertions. */
  thenAccepted(message?: string): readonly Event[];
  /** Refused with `code`; returns the refusal's detail for closer assertions. */
  thenRefused(code: RefusalCode, message?: string): string;
  /** The decision itself, for an assertion none of the above makes. */
  readonly decision: Decision<Event, RefusalCode>;
}

/** The specification of `decider`; see `DeciderSpecification`. */
export function deciderSpecification<State, Command, Event, RefusalCode extends string>(
  decider: Decider<State, Command, Event, RefusalCode>,
): DeciderSpecification<Command, Event, RefusalCode> {
  const decideAfter = (history: readonly Event[], command: Command) =>
    decider.decide(command, stateFrom(decider, history));
  const asserting = (t: SpecificationAssertions) => ({
    given: (...history: Event[]) => ({
      when: (command: Command): ThenDecision<Event, RefusalCode> => {
        const decision = decideAfter(history, command);
        return {
          decision,
          then: (events, message) => t.deepEqual(decision, { outcome: "accepted", events }, message),
          thenNothing: (message) => t.deepEqual(decision, { outcome: "accepted", events: [] }, message),
          thenAccepted: (message) => {
            t.like(decision, { outcome: "accepted" }, message);
            return decision.outcome === "accepted" ? decision.events : [];
          },
          thenRefused: (code, message) => {
            t.like(decision, { outcome: "refused", code }, message);
            return decision.outcome === "refused" ? decision.detail : "";
          },
        };
      },
    }),
  });
  const given = (...history: Event[]) => ({
    whenAll: (commands: readonly Command[]): Event[] => {
      const events = [...history];
      for (const command of commands) {
        const decision = decideAfter(events, command);
        if (decision.outcome === "refused") throw new Error(`refused: ${decision.code}`);
        events.push(...decision.events);
      }
      return events.slice(history.length);
    },
  });
  return Object.assign(asserting, { given });
}
