import { EventStoreDBClient } from "@eventstore/db-client";
import anyTest, { type TestFn } from "ava";
import type { EventStore } from "../EventStore.ts";
import { eventStoreContract } from "../eventStoreContract.ts";
import { EventStoreDbEventStore } from "./EventStoreDbEventStore.ts";

const test = anyTest as TestFn<{ store: EventStore }>;
const url = process.env.EVENTSTORE_URL;

if (url === undefined || url === "") {
  // EventStoreDB cannot be installed on these machines; never pass silently when it is absent.
  console.log(
    "EventStoreDB contract tests did NOT run: EVENTSTORE_URL is not set (e.g. esdb://127.0.0.1:2113?tls=false).",
  );
  test.skip("EventStoreDB: contract suite (needs EVENTSTORE_URL)", () => undefined);
} else {
  test.before((t) => {
    t.context.store = new EventStoreDbEventStore(EventStoreDBClient.connectionString(url));
  });
  test.after.always(async (t) => {
    await t.context.store.close();
  });
  eventStoreContract(test, "EventStoreDB");
}
