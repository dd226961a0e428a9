import type { ConsentKeyword } from "../account/AccountEvent.ts";
import type { Instant } from "../values/Instant.ts";

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
