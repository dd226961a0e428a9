import { accepted, type Decider } from "../Decider.ts";
import type { ConsentKeyword } from "../account/AccountEvent.ts";
import type { Instant } from "../values/Instant.ts";
import type { InboundSmsEvent } from "./InboundSmsEvent.ts";

/** Record an inbound keyword message; the caller has looked up who holds the sender's number. */
export type InboundSmsCommand = {
  readonly type: "ReceiveInboundSms";
  readonly data: {
    readonly provider: string;
    readonly messageId: string;
    readonly keyword: ConsentKeyword;
    readonly accountIds: readonly string[];
    readonly now: Instant;
  };
};

export type InboundSmsState =
  | { readonly status: "absent" }
  | {
      readonly status: "received";
      readonly keyword: ConsentKeyword;
      readonly accountIds: readonly string[];
    };

/**
 * One inbound message, handled once: the first delivery records it with the accounts it reaches;
 * a replay (the same provider and message id) appends nothing, so it reaches the same accounts,
 * where each account's decider has already applied it. Never refuses.
 */
export const inboundSmsDecider: Decider<InboundSmsState, InboundSmsCommand, InboundSmsEvent, never> = {
  initialState: () => ({ status: "absent" }),
  evolve: (_state, event) => ({
    status: "received",
    keyword: event.data.keyword,
    accountIds: event.data.accountIds,
  }),
  decide: (command, state) => {
    if (state.status === "received") return accepted();
    const { now, ...message } = command.data;
    return accepted({ type: "InboundSmsReceived", data: { ...message, receivedAt: now } });
  },
};

/**
 * The message's stream (category `inboundSms` for the fan-out); provider names never hold `/`, so
 * no two pairs share one.
 */
export function inboundSmsStreamId(provider: string, messageId: string): string {
  return `inboundSms-${provider}/${messageId}`;
}
