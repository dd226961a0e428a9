import type { ConsentKeyword } from "../account/AccountEvent.ts";

/** An inbound message's stream folded: `absent` until it is first received. */
export type InboundSmsState =
  | { readonly status: "absent" }
  | {
      readonly status: "received";
      readonly keyword: ConsentKeyword;
      readonly accountIds: readonly string[];
    };
