import { accepted, type Decider } from "../Decider.ts";
import type { InboundSmsCommand } from "./InboundSmsCommand.ts";
import type { InboundSmsEvent } from "./InboundSmsEvent.ts";
import type { InboundSmsState } from "./InboundSmsState.ts";

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
