import type { ConsentKeyword } from "../account/AccountEvent.ts";

/** Events of the stream `inboundSms-<provider>/<messageId>`: one inbound message, handled once. */
export type InboundSmsEvent = {
  readonly type: "InboundSmsReceived";
  readonly data: {
    readonly provider: string;
    /** The provider's id of the message (Twilio's `MessageSid`). */
    readonly messageId: string;
    readonly keyword: ConsentKeyword;
    /**
     * The accounts that held the sender's number when the message was first handled: a replay
     * reaches these, never an account opened on the number since.
     */
    readonly accountIds: readonly string[];
    readonly receivedAt: string;
  };
};
