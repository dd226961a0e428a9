import { type ConsoleBrowser, waitForPaint } from "./openConsoleBrowser.ts";

/** What one kind of resource cost on the wire, from the page's Resource Timing entries. */
export interface TransferredResources {
  readonly requests: number;
  /** Bytes fetched from the server, headers included (`transferSize`; 0 for an answer from the cache). */
  readonly transferredBytes: number;
  /** Bodies as sent (`encodedBodySize`) and once decoded (`decodedBodySize`): equal when not compressed. */
  readonly encodedBodyBytes: number;
  readonly decodedBodyBytes: number;
  /** Requests answered by the browser's cache (nothing transferred, a body all the same). */
  readonly fromCache: number;
}

/** A visit's traffic by kind: `document`, `script`, `stylesheet`, `fetch`. */
export type TransferredBytes = ReadonlyMap<string, TransferredResources>;

const READ_ENTRIES = `[...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map(
  (entry) => ({
    kind: entry.entryType === "navigation" ? "document" : entry.name.endsWith(".js") ? "script"
      : entry.name.endsWith(".css") ? "stylesheet" : entry.initiatorType,
    transferSize: entry.transferSize,
    encodedBodySize: entry.encodedBodySize,
    decodedBodySize: entry.decodedBodySize,
  }),
)`;

interface Entry {
  readonly kind: string;
  readonly transferSize: number;
  readonly encodedBodySize: number;
  readonly decodedBodySize: number;
}

/**
 * Loads `/console/` once, in a page that bypasses the browser's cache (`cold`: a first visit) or
 * uses it (`warm`: a return visit, after the caller has loaded it once), waits for the funnel's
 * figures and for the network to fall quiet, and sums the page's Navigation and Resource Timing
 * entries by kind.
 */
export async function measureTransferredBytes(
  browser: ConsoleBrowser,
  url: string,
  cache: "cold" | "warm",
): Promise<TransferredBytes> {
  const page = await browser.newPage(cache);
  try {
    await page.goto(`${url}/console/`, { waitUntil: "commit" });
    await waitForPaint(page, "overview");
    await page.waitForLoadState("networkidle");
    const byKind = new Map<string, TransferredResources>();
    for (const entry of await page.evaluate<Entry[]>(READ_ENTRIES)) {
      const sum = byKind.get(entry.kind) ?? {
        requests: 0,
        transferredBytes: 0,
        encodedBodyBytes: 0,
        decodedBodyBytes: 0,
        fromCache: 0,
      };
      byKind.set(entry.kind, {
        requests: sum.requests + 1,
        transferredBytes: sum.transferredBytes + entry.transferSize,
        encodedBodyBytes: sum.encodedBodyBytes + entry.encodedBodySize,
        decodedBodyBytes: sum.decodedBodyBytes + entry.decodedBodySize,
        fromCache: sum.fromCache + (entry.transferSize === 0 && entry.decodedBodySize > 0 ? 1 : 0),
      });
    }
    return byKind;
  } finally {
    await page.close();
  }
}
