import test from "ava";
import { stateFrom } from "../Decider.ts";
import { deciderSpecification } from "../deciderSpecification.ts";
import { epochMsToInstant } from "../values/Instant.ts";
import type { InboundSmsCommand } from "./InboundSmsCommand.ts";
import { inboundSmsDecider, inboundSmsStreamId } from "./inboundSmsDecider.ts";

const now = epochMsToInstant(Date.UTC(2026, 10, 24, 9));
const receive = (accountIds: readonly string[]): InboundSmsCommand => ({
  type: "ReceiveInboundSms",
  data: { provider: "primary", messageId: "SM1", keyword: "stop", accountIds, now },
});
const spec = deciderSpecification(inboundSmsDecider);

test("given a message never seen, when it is received, then it is recorded with the accounts it reaches", (t) => {
  spec(t)
    .given()
    .when(receive(["acc-1", "acc-2"]))
    .then([
      {
        type: "InboundSmsReceived",
        data: {
          provider: "primary",
          messageId: "SM1",
          keyword: "stop",
          accountIds: ["acc-1", "acc-2"],
          receivedAt: now,
        },
      },
    ]);
});

test("given a message received, when it arrives again, then nothing: the accounts it reaches stay those of the first time", (t) => {
  const first = spec.given().whenAll([receive(["acc-1"])]);
  spec(t)
    .given(...first)
    .when(receive(["acc-1", "acc-9"]))
    .thenNothing();
  t.like(stateFrom(inboundSmsDecider, first), { status: "received", accountIds: ["acc-1"] });
});

test("one stream per provider and message id; ids are told apart whatever characters they hold", (t) => {
  t.is(inboundSmsStreamId("primary", "SM1"), "inboundSms-primary/SM1");
  t.not(inboundSmsStreamId("a-b", "c"), inboundSmsStreamId("a", "b-c"));
});
