import test from "ava";
import { pino } from "pino";
import { readRulesetFile } from "../../commands/rules/loadRules.ts";
import { loadTemplates } from "../../commands/templates/loadTemplates.ts";
import { DEFAULT_REFERENCE_TIME_BOUNDS } from "../../domain/values/ReferenceTimeBounds.ts";
import { collect } from "../../gateways/eventStore/eventStoreContract.ts";
import { START, type Position } from "../../gateways/eventStore/Position.ts";
import { startTestSystem, type TestSystem } from "../../test/startTestSystem.ts";
import { allProjections } from "../allProjections.ts";
import { LivePositions } from "../api/LivePositions.ts";
import { liveBuildDigest } from "../runtime/projectionDigest.ts";
import { BacktestJobs } from "./BacktestJobs.ts";

const KEYS = {
  bank: {
    name: "core-banking",
    key: "bank-key-0123456789abcdef",
    scopes: ["accounts:write", "balances:write"],
  },
  reader: { name: "support", key: "support-key-0123456789abcdef", scopes: ["queries:read"] },
} as const;

async function post(system: TestSystem, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${system.commandUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEYS.bank.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Everything a backtest must leave as it was: the log, and every read model's digest. */
async function snapshot(system: TestSystem) {
  const events = await collect(system.store.readAll(START));
  const digests = await Promise.all(
    allProjections.map(
      async (projection) => (await liveBuildDigest(system.db, system.schemas, projection))?.digest,
    ),
  );
  return { events: events.length, lastPosition: String(events.at(-1)?.position), digests };
}

test("a backtest through the jobs counts the candidate's funnel beside what happened, keeps its report, and changes nothing: no event, no read model", async (t) => {
  const system = await startTestSystem(Object.values(KEYS));
  t.teardown(() => system.close());
  for (const accountId of ["bt-1", "bt-2"]) {
    await post(system, "/accounts", {
      accountId,
      customerId: `c-${accountId}`,
      phone: "+447911123456",
      currency: "GBP",
      timeZone: "Europe/London",
      consents: { service: true, marketing: false },
    });
  }
  // Under the shipped rules (below 100.00) bt-2 qualifies; under a 200.00 candidate both do.
  const pushes = [
    ["bt-1", "300.00", "08:01"],
    ["bt-1", "150.00", "08:02"],
    ["bt-2", "300.00", "08:03"],
    ["bt-2", "50.00", "08:04"],
  ] as const;
  let position = "";
  for (const [accountId, amount, time] of pushes) {
    const answer = await post(system, `/accounts/${accountId}/balances`, {
      amount,
      currency: "GBP",
      balanceType: "InterimAvailable",
      referenceTime: `2026-11-24T${time}:00Z`,
    });
    position = String(answer["position"]);
  }
  const caughtUp = await fetch(`${system.queryUrl}/accounts/bt-2/timeline`, {
    headers: { authorization: `Bearer ${KEYS.reader.key}`, "x-min-position": position },
  });
  t.is(caughtUp.status, 200);
  // Every read model, not only the timeline the query above waited for, has the last push.
  const every = allProjections.map((projection) => projection.name);
  t.truthy(await new LivePositions(system.db, system.schemas).waitFor(every, position as Position, 10_000));
  const before = await snapshot(system);

  const candidateFile = await readRulesetFile(
    new URL("../../commands/rules/defaultRules.yaml", import.meta.url),
  );
  const candidate = candidateFile.rules.map((rule) =>
    rule.id === "low-balance" && rule.kind === "below"
      ? {
          ...rule,
          version: 2,
          threshold: { ...rule.threshold, minor: 20_000n },
          rearmAbove: { ...rule.rearmAbove, minor: 25_000n },
        }
      : rule,
  );
  const jobs = new BacktestJobs({
    db: system.db,
    schema: system.schemas.runtime,
    store: system.store,
    actualRules: () => [],
    templates: await loadTemplates(),
    bounds: DEFAULT_REFERENCE_TIME_BOUNDS,
    logger: pino({ level: "silent" }),
    progressEveryMs: 0,
  });
  await jobs.migrate();
  const started = await jobs.start({
    candidate: candidateFile.document,
    rules: candidate,
    fromMs: Date.parse("2026-11-24T00:00:00Z"),
    toMs: Date.parse("2026-11-25T00:00:00Z"),
    requestedBy: "product-team",
    comment: "what if 200.00",
  });
  if ("running" in started) throw new Error("nothing else runs here");
  t.is(started.status, "running");
  t.deepEqual(
    await jobs.start({
      candidate: candidateFile.document,
      rules: candidate,
      fromMs: 0,
      toMs: 1,
      requestedBy: "x",
      comment: "",
    }),
    { running: started.backtestId },
    "one backtest at a time per process",
  );
  let job = await jobs.find(started.backtestId);
  for (let waited = 0; job?.status === "running" && waited < 10_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    job = await jobs.find(started.backtestId);
  }
  t.is(job?.status, "done", job?.error ?? "");
  const lowBalance = job?.report?.rows.find((row) => row.ruleId === "low-balance");
  t.like(lowBalance, {
    day: "2026-11-24",
    candidate: { qualified: 2, requested: 2, sent: 2 },
    actual: { qualified: 1, requested: 0 },
  });
  t.deepEqual(
    job?.report?.gains.map((change) => change.accountId),
    ["bt-1"],
  );
  t.regex(job?.report?.gains[0]?.candidate?.explanation ?? "", /below the threshold of 200\.00 GBP/);
  t.is(job?.report?.balancesReplayed, 4);
  t.deepEqual(
    (await jobs.list(10)).map((listed) => listed.backtestId),
    [started.backtestId],
  );

  t.deepEqual(await snapshot(system), before, "the log and every read model are as they were");
});
