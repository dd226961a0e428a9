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
