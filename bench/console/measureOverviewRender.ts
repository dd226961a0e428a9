import { performance } from "node:perf_hooks";
import { type ConsoleBrowser, waitForPaint } from "./openConsoleBrowser.ts";

/** One load of the overview. */
export interface OverviewRun {
  /** From `page.goto` in this process until it saw the paint mark (DevTools round trips included). */
  readonly wallMs: number;
  /** In the page: from the navigation's start to the first frame painted with the funnel figures. */
  readonly paintMs: number;
  /** Where that time went, from the page's Navigation and Resource Timing (ms since navigation start). */
  readonly phases: OverviewPhases;
}

/** Moments of an overview load, in the order they happen. */
export interface OverviewPhases {
  /** The HTML received. */
  readonly documentEnd: number;
  /** The bundle received (from the server, or the cache). */
  readonly scriptEnd: number;
  /** The bundle ran: the console mounted and asked `GET /me`. */
  readonly domContentLoaded: number;
  readonly meEnd: number;
  readonly funnelStart: number;
  readonly funnelEnd: number;
}

export const OVERVIEW_PHASES: readonly (keyof OverviewPhases)[] = [
  "documentEnd",
  "scriptEnd",
  "domContentLoaded",
  "meEnd",
  "funnelStart",
  "funnelEnd",
];

const READ_PHASES = `(() => {
  const navigation = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const find = (test) => resources.find((entry) => test(new URL(entry.name).pathname));
  const script = find((path) => path.endsWith(".js"));
  const me = find((path) => path === "/me");
  const funnel = find((path) => path === "/reports/funnel");
  return {
    documentEnd: navigation.responseEnd,
    scriptEnd: script?.responseEnd ?? NaN,
    domContentLoaded: navigation.domContentLoadedEventEnd,
    meEnd: me?.responseEnd ?? NaN,
    funnelStart: funnel?.startTime ?? NaN,
    funnelEnd: funnel?.responseEnd ?? NaN,
  };
})()`;

/** The overview's runs, and the "Requested" figure it showed (the funnel was not empty). */
export interface OverviewMeasurement {
  readonly runs: readonly OverviewRun[];
  readonly requestedShown: string;
}

/**
 * Loads `/console/` (signed in, so the overview) `runs` times, each in a fresh page, after one
 * unmeasured load (it warms the server's JIT and, with a cache, the query API's answers; with a
 * `warm` browser, its HTTP cache). Ends each run when the funnel's figures
 * (`[data-testid=total-requested]`, rendered once `/reports/funnel` answered) are painted.
 * @throws Error when the funnel shows no requested notification (the window misses the log).
 */
export async function measureOverviewRender(
  browser: ConsoleBrowser,
  url: string,
  cache: "cold" | "warm",
  runs: number,
): Promise<OverviewMeasurement> {
  const warmUp = await overviewOnce(browser, url, cache);
  if (!/[1-9]/.test(warmUp.requestedShown)) {
    throw new Error(`the overview shows ${warmUp.requestedShown} requested: its days miss the log`);
  }
  const measured: OverviewRun[] = [];
  for (let run = 0; run < runs; run += 1) measured.push((await overviewOnce(browser, url, cache)).run);
  return { runs: measured, requestedShown: warmUp.requestedShown };
}

async function overviewOnce(
  browser: ConsoleBrowser,
  url: string,
  cache: "cold" | "warm",
): Promise<{ readonly run: OverviewRun; readonly requestedShown: string }> {
  const page = await browser.newPage(cache);
  try {
    const startedAt = performance.now();
    await page.goto(`${url}/console/`, { waitUntil: "commit" });
    const paintMs = await waitForPaint(page, "overview");
    const wallMs = performance.now() - startedAt;
    const phases = await page.evaluate<OverviewPhases>(READ_PHASES);
    const requestedShown = await page.getByTestId("total-requested").innerText();
    return { run: { wallMs, paintMs, phases }, requestedShown };
  } finally {
    await page.close();
  }
}
