import type { ConsumerBinding } from "../gateways/fanout/amqpTopology.ts";

/**
 * The name of each consumer of the fan-out `npm start` runs: it names the consumer's queue
 * (`tidemark.<name>`, or `tidemark.<name>.prioritised` for one that declares `priorityQueue`: the
 * SMS gateway), its dead letters (`tidemark.<name>.dead` either way) and its checkpoint, so tools
 * that look at dead letters (the CLI, the query API) find them by these names.
 */
export const CONSUMER_NAMES = {
  qualificationPolicy: "qualification-policy",
  smsGateway: "sms-gateway",
  bankingGateway: "banking-gateway",
  scheduleMembership: "refresh-schedule",
} as const;

/** Every consumer `npm start` runs, in the order the fan-out starts them. */
export const FANOUT_CONSUMERS: readonly string[] = Object.values(CONSUMER_NAMES);

/**
 * What each consumer reads, and whether its queue is a priority queue: the relay declares and
 * binds every one of these queues before it publishes (`runAmqpRelay`'s `consumers`), so an event
 * relayed before its consumer's first start waits in its queue instead of being dropped. Each
 * consumer takes its own entry, so the two never differ.
 */
export const FANOUT_BINDINGS = {
  qualificationPolicy: {
    name: CONSUMER_NAMES.qualificationPolicy,
    eventTypes: new Set(["AccountQualified"]),
  },
  smsGateway: {
    name: CONSUMER_NAMES.smsGateway,
    eventTypes: new Set(["NotificationRequested"]),
    priorityQueue: true,
  },
  bankingGateway: { name: CONSUMER_NAMES.bankingGateway, eventTypes: new Set(["BalanceRefreshRequested"]) },
  scheduleMembership: {
    name: CONSUMER_NAMES.scheduleMembership,
    eventTypes: new Set(["AccountOpened", "AccountClosed"]),
  },
} as const satisfies Record<keyof typeof CONSUMER_NAMES, ConsumerBinding>;
