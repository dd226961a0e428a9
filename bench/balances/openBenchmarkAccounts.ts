import { epochMsToInstant } from "../../domain/values/Instant.ts";
import type { EventStore } from "../../gateways/eventStore/EventStore.ts";
import { newEventId } from "../../gateways/eventStore/newEventId.ts";

const OPENING_WRITERS = 64;

/**
 * Opens `count` GBP accounts, `bench-1` … `bench-<count>` (the ids of the benchmark's file), by
 * appending their AccountOpened events directly, 64 at a time: set-up, not what is measured.
 */
export async function openBenchmarkAccounts(
  store: EventStore,
  count: number,
  progress: (message: string) => void,
): Promise<void> {
  let next = 1;
  const openedAt = epochMsToInstant(Date.now() - 86_400_000);
  const writer = async () => {
    while (next <= count) {
      const index = next;
      next += 1;
      await store.append(`account-bench-${index}`, "no_stream", [
        {
          id: newEventId(),
          type: "AccountOpened",
          data: {
            accountId: `bench-${index}`,
            customerId: `c-${index}`,
            phone: "+447911123456",
            currency: "GBP",
            timeZone: "Europe/London",
            consents: { service: true, marketing: false },
            openedAt,
          },
          metadata: { correlationId: "bench", actor: "benchmark" },
        },
      ]);
      if (index % 200_000 === 0) progress(`  ${index} accounts opened`);
    }
  };
  await Promise.all(Array.from({ length: OPENING_WRITERS }, writer));
}
