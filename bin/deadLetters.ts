import { parseArgs } from "node:util";
import { deadLetterInbox, type DeadLetterInbox } from "../gateways/fanout/DeadLetterInbox.ts";
import type { DeadLetter } from "../gateways/fanout/DeadLetters.ts";
import { checkConsumerName } from "../gateways/fanout/EventConsumer.ts";
import { FANOUT_CONSUMERS } from "../reactors/consumerNames.ts";
import { connectDatabase, isUuid, runCommandLine, unreachableDatabase, UsageError } from "./commandLine.ts";
import { loadConfig, type Config } from "./loadConfig.ts";

const USAGE = `Usage: npm run dead-letters -- <command> [options]

Commands:
  list                               dead letters of every consumer (or of --consumer)
  requeue <consumer> --all           hand every dead letter of <consumer> back to it
  requeue <consumer> <event id…>     hand back only these events

Options:
  --consumer <name>                  list only this consumer's dead letters
  --json                             machine-readable output on stdout
  -h, --help                         this text

With AMQP_URL the dead letters are the messages in tidemark.<consumer>.dead (requeue moves them
back to the consumer's queue, tidemark.<consumer>.prioritised if there is one, else
tidemark.<consumer>, with a fresh attempt count and their priority); without, the rows of
<prefix>_fanout.dead_letters in DATABASE_URL or the embedded PostgreSQL of a running npm start
(requeue marks them, and the running consumer handles them again within seconds).
Exit status: 0 done, 1 nothing matched what was asked to requeue, 2 bad usage or nothing to connect to.`;

type Invocation =
  | { readonly command: "list"; readonly consumers: readonly string[]; readonly json: boolean }
  | {
      readonly command: "requeue";
      readonly consumer: string;
      readonly eventIds: readonly string[] | "all";
      readonly json: boolean;
    };

function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      all: { type: "boolean", default: false },
      consumer: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return "help";
  if (command === "list") {
    if (rest.length > 0) throw new UsageError(`list takes no arguments (got ${rest.join(" ")})`);
    const consumers = values.consumer === undefined ? FANOUT_CONSUMERS : [values.consumer];
    for (const consumer of consumers) checkName(consumer);
    return { command, consumers, json: values.json };
  }
  if (command === "requeue") {
    const [consumer, ...eventIds] = rest;
    if (consumer === undefined) throw new UsageError("requeue: name the consumer");
    checkName(consumer);
    if (values.all === eventIds.length > 0)
      throw new UsageError("requeue: give event ids or --all (one of them)");
    const bad = eventIds.filter((id) => !isUuid(id));
    if (bad.length > 0) throw new UsageError(`requeue: not event ids: ${bad.join(", ")}`);
    return { command, consumer, eventIds: values.all ? "all" : eventIds, json: values.json };
  }
  throw new UsageError(`unknown command "${command}"`);
}

function checkName(consumer: string): void {
  try {
    checkConsumerName(consumer);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

// The listing holds them in memory (RabbitMQ: fetched and put back): a bound, per consumer asked.
const LIST_LIMIT = 10_000;

async function run(invocation: Invocation, config: Config): Promise<number> {
  const { amqpUrl } = config;
  if (amqpUrl !== undefined) {
    try {
      return await handle(invocation, deadLetterInbox({ amqpUrl }));
    } catch (error) {
      console.error(`dead-letters: RabbitMQ at AMQP_URL: ${(error as Error).message}`);
      return 2;
    }
  }
  const pool = await connectDatabase("dead-letters", config, 2);
  if (pool === undefined) return 2;
  try {
    const inbox = deadLetterInbox({ pool, schema: `${config.schemaPrefix}_fanout` });
    try {
      await inbox.migrate();
    } catch (error) {
      console.error(`dead-letters: ${unreachableDatabase(config, error)}`);
      return 2;
    }
    return await handle(invocation, inbox);
  } finally {
    await pool.end();
  }
}

async function handle(invocation: Invocation, inbox: DeadLetterInbox): Promise<number> {
  return invocation.command === "list"
    ? report(
        await inbox.list(invocation.consumers, LIST_LIMIT * invocation.consumers.length),
        invocation.json,
      )
    : requeued(await inbox.requeue(invocation.consumer, invocation.eventIds), invocation);
}

function report(letters: readonly DeadLetter[], json: boolean): number {
  if (json) {
    console.log(JSON.stringify(letters, null, 2));
    return 0;
  }
  if (letters.length === 0) {
    console.log("no dead letters");
    return 0;
  }
  for (const letter of letters) {
    const failedAt = Number.isNaN(letter.failedAt.getTime()) ? "?" : letter.failedAt.toISOString();
    console.log(
      `${letter.consumer}  ${letter.eventId}  ${letter.eventType}  at ${letter.position}  ${letter.attempts} attempts, failed ${failedAt}: ${letter.error}`,
    );
  }
  console.log(`${letters.length} dead letter${letters.length === 1 ? "" : "s"}`);
  return 0;
}

function requeued(count: number, invocation: Extract<Invocation, { command: "requeue" }>): number {
  const asked = invocation.eventIds === "all" ? "all" : invocation.eventIds.length;
  if (invocation.json) console.log(JSON.stringify({ consumer: invocation.consumer, requeued: count, asked }));
  else console.log(`requeued ${count} dead letter${count === 1 ? "" : "s"} of ${invocation.consumer}`);
  return asked !== "all" && count < asked ? 1 : 0;
}

await runCommandLine({
  name: "dead-letters",
  usage: USAGE,
  parse: parseInvocation,
  configure: () => loadConfig(process.env, { requireApiKeys: false }),
  run,
});
