import { performance } from "node:perf_hooks";

/** The query API requests behind the console's pages, timed from this process. */
export type ApiRequestName =
  "funnel" | "timelineNewest" | "timelineAllByPage" | "timelineAllByLargestPage" | "ruleStates";

export const API_REQUEST_NAMES: readonly ApiRequestName[] = [
  "funnel",
  "timelineNewest",
  "timelineAllByPage",
  "timelineAllByLargestPage",
  "ruleStates",
];

/** What the requests ask for. */
export interface ConsoleApiRequests {
  readonly apiKey: string;
  readonly accountId: string;
  /** Entries in the account's timeline: a walk must return exactly these. */
  readonly expectedEntries: number;
  /** The overview's funnel request (its 7 days). */
  readonly funnelPath: string;
  /** The console's timeline page size, and the largest the API allows. */
  readonly page: number;
  readonly largestPage: number;
}

/** Milliseconds of each run, per request. */
export type ConsoleApiTimings = Readonly<Record<ApiRequestName, readonly number[]>>;

/**
 * Times each request `runs` times, in turn (funnel, newest timeline page, the whole timeline in
 * console-sized pages, in the largest pages, rule states), after one unmeasured round. One
 * keep-alive connection (fetch's pool), the body read to its end.
 * @throws Error on an answer that is not 200, or a walk that does not return every entry.
 */
export async function measureConsoleApi(
  url: string,
  requests: ConsoleApiRequests,
  runs: number,
): Promise<ConsoleApiTimings> {
  const timings: Record<ApiRequestName, number[]> = {
    funnel: [],
    timelineNewest: [],
    timelineAllByPage: [],
    timelineAllByLargestPage: [],
    ruleStates: [],
  };
  for (let run = 0; run <= runs; run += 1) {
    for (const name of API_REQUEST_NAMES) {
      const startedAt = performance.now();
      await sendRequest(url, requests, name);
      if (run > 0) timings[name].push(performance.now() - startedAt);
    }
  }
  return timings;
}

async function sendRequest(url: string, requests: ConsoleApiRequests, name: ApiRequestName): Promise<void> {
  const timeline = `/accounts/${encodeURIComponent(requests.accountId)}/timeline`;
  switch (name) {
    case "funnel":
      await getJson(url, requests.apiKey, requests.funnelPath);
      return;
    case "timelineNewest":
      await getJson(url, requests.apiKey, `${timeline}?order=desc&limit=${requests.page}`);
      return;
    case "timelineAllByPage":
      await walkTimeline(url, requests, requests.page);
      return;
    case "timelineAllByLargestPage":
      await walkTimeline(url, requests, requests.largestPage);
      return;
    case "ruleStates":
      await getJson(url, requests.apiKey, `/accounts/${encodeURIComponent(requests.accountId)}/rule-states`);
      return;
    default: {
      const unknown: never = name;
      throw new Error(`unknown request ${String(unknown)}`);
    }
  }
}

/** Every page of the timeline, newest first, as the console's "Older events" walks it. */
async function walkTimeline(url: string, requests: ConsoleApiRequests, limit: number): Promise<void> {
  const path = `/accounts/${encodeURIComponent(requests.accountId)}/timeline?order=desc&limit=${limit}`;
  let entries = 0;
  let after: string | null = null;
  do {
    const page = (await getJson(url, requests.apiKey, after === null ? path : `${path}&after=${after}`)) as {
      readonly items: readonly unknown[];
      readonly next: string | null;
    };
    entries += page.items.length;
    after = page.next;
  } while (after !== null);
  if (entries !== requests.expectedEntries) {
    throw new Error(
      `walking the timeline by ${limit} gave ${entries} entries, not ${requests.expectedEntries}`,
    );
  }
}

async function getJson(url: string, apiKey: string, path: string): Promise<unknown> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${body.slice(0, 200)}`);
  return JSON.parse(body);
}
