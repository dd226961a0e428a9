import { performance } from "node:perf_hooks";
import type { Page } from "playwright-core";
import { type ConsoleBrowser, waitForPaint } from "./openConsoleBrowser.ts";

/** One visit of the customer page, from the overview, in the running console. */
export interface CustomerRun {
  /** In the page: from setting the route to the first frame painted with the timeline's first page. */
  readonly firstPageMs: number;
  /** The same, seen from this process (`evaluate` before, until it saw the mark). */
  readonly firstPageWallMs: number;
  /** In the page: until the "why no alert?" panel's rules (`/rule-states`) were painted. */
  readonly ruleStatesMs: number;
  /** In the page: until every entry was painted, "Older events" clicked as soon as each page showed. */
  readonly allEntriesMs: number;
}

/** Clicks "Older events" in the page whenever the previous page has rendered, until there is none. */
const CLICK_THROUGH = `(async () => {
  const entries = () => document.querySelectorAll("[data-testid=timeline] li").length;
  const changed = (before) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no new timeline entries within 30 s")), 30000);
    const observer = new MutationObserver(() => {
      if (entries() === before) return;
      observer.disconnect();
      clearTimeout(timer);
      resolve();
    });
    observer.observe(document.body, { subtree: true, childList: true });
  });
  for (;;) {
    const older = [...document.querySelectorAll(".timeline button")].find((b) => b.textContent.trim() === "Older events");
    if (older === undefined) return entries();
    const next = changed(entries());
    older.click();
    await next;
  }
})()`;

/**
 * Visits `#/customer/<accountId>` from the overview `runs` times in one warm page (after one
 * unmeasured visit), as an operator switching pages does: the route changes, the customer page
 * mounts and asks for the account, its rule states and the newest timeline page at once. Each run
 * then clicks through every older page, and returns to the overview (waiting for its figures).
 * @throws Error when the pages shown do not add up to `expectedEntries`.
 */
export async function measureCustomerTimeline(
  browser: ConsoleBrowser,
  url: string,
  accountId: string,
  expectedEntries: number,
  runs: number,
): Promise<readonly CustomerRun[]> {
  const page = await browser.newPage("warm");
  try {
    await page.goto(`${url}/console/`, { waitUntil: "commit" });
    await waitForPaint(page, "overview");
    await customerOnce(page, accountId, expectedEntries);
    const measured: CustomerRun[] = [];
    for (let run = 0; run < runs; run += 1)
      measured.push(await customerOnce(page, accountId, expectedEntries));
    return measured;
  } finally {
    await page.close();
  }
}

async function customerOnce(page: Page, accountId: string, expectedEntries: number): Promise<CustomerRun> {
  await page.evaluate(`globalThis.__consoleBench.reset(); location.hash = "#/overview";`);
  await waitForPaint(page, "overview");
  const startedAt = performance.now();
  const start = await page.evaluate<number>(
    `(() => {
      globalThis.__consoleBench.reset();
      const start = performance.now();
      location.hash = ${JSON.stringify(`#/customer/${encodeURIComponent(accountId)}`)};
      return start;
    })()`,
  );
  const firstPage = await waitForPaint(page, "timeline");
  const firstPageWallMs = performance.now() - startedAt;
  const ruleStates = await waitForPaint(page, "ruleStates");
  const shown = await page.evaluate<number>(CLICK_THROUGH);
  if (shown !== expectedEntries) {
    throw new Error(`the timeline of ${accountId} showed ${shown} entries, not ${expectedEntries}`);
  }
  const allEntries = await waitForPaint(page, "timelineAll");
  return {
    firstPageMs: firstPage - start,
    firstPageWallMs,
    ruleStatesMs: ruleStates - start,
    allEntriesMs: allEntries - start,
  };
}
