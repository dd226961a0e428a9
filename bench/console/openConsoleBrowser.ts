import type { Page } from "playwright-core";
import { launchChromium } from "../../test/browser/launchChromium.ts";
import type { PaintTarget, PaintTargetName } from "./consolePaintTargets.ts";

/** How each page of the benchmark's browser starts. */
export interface ConsoleBrowserOptions {
  readonly viewport: { readonly width: number; readonly height: number };
  /** Put into sessionStorage before the console's script runs: the page opens signed in. */
  readonly apiKey: string;
  /** What the page's `new Date()` and `Date.now()` say it is when a document starts (time flows on). */
  readonly today: Date;
  readonly targets: readonly PaintTarget[];
}

/** A headless Chromium whose pages open signed in, on the log's days, with paint marks. */
export interface ConsoleBrowser {
  /** A fresh page; `cold`: it bypasses the browser's HTTP cache (memory and disk), as a first visit. */
  newPage(cache: "cold" | "warm"): Promise<Page>;
  close(): Promise<void>;
}

/** The console keeps the key here (console/src/api.ts). */
const KEY_ITEM = "tidemark.apiKey";

/**
 * Launches Debian's Chromium (`launchChromium`) with an init script on every document, run through
 * the DevTools protocol before the page's own script (so the console's CSP does not apply):
 * signs in, shifts `Date` so that "today" is `options.today` (the overview shows the last 7 days),
 * and records `performance.now()` in `__consoleBench.marks[name]` at the first frame painted after
 * each target is in the DOM (a requestAnimationFrame, then a task: after that frame's paint);
 * `__consoleBench.when(name)` resolves with it. `__consoleBench.reset()` forgets the marks, for a
 * navigation inside the page.
 */
export async function openConsoleBrowser(options: ConsoleBrowserOptions): Promise<ConsoleBrowser> {
  const browser = await launchChromium(options.viewport);
  await browser.context.addInitScript({ content: initScript(options) });
  return {
    async newPage(cache) {
      const page = await browser.context.newPage();
      if (cache === "cold") {
        const session = await browser.context.newCDPSession(page);
        await session.send("Network.enable");
        await session.send("Network.setCacheDisabled", { cacheDisabled: true });
      }
      return page;
    },
    close: () => browser.close(),
  };
}

function initScript(options: ConsoleBrowserOptions): string {
  return `(() => {
  sessionStorage.setItem(${JSON.stringify(KEY_ITEM)}, ${JSON.stringify(options.apiKey)});
  const RealDate = Date;
  const offset = ${options.today.getTime()} - RealDate.now();
  globalThis.Date = class extends RealDate {
    constructor(...args) { if (args.length === 0) super(RealDate.now() + offset); else super(...args); }
    static now() { return RealDate.now() + offset; }
  };
  const targets = ${JSON.stringify(options.targets)};
  let generation = 0;
  const waiters = [];
  const bench = {
    marks: {},
    reset() { generation += 1; bench.marks = {}; check(); },
    when(name) { return new Promise((resolve) => { waiters.push({ name, resolve }); settle(); }); },
  };
  function settle() {
    for (const waiter of [...waiters]) {
      const mark = bench.marks[waiter.name];
      if (typeof mark !== "number") continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(mark);
    }
  }
  function check() {
    for (const target of targets) {
      if (target.name in bench.marks) continue;
      if (document.querySelectorAll(target.selector).length < target.count) continue;
      bench.marks[target.name] = null;
      const wanted = generation;
      requestAnimationFrame(() => setTimeout(() => {
        if (wanted !== generation) return;
        bench.marks[target.name] = performance.now();
        settle();
      }, 0));
    }
  }
  Object.defineProperty(globalThis, "__consoleBench", { value: bench });
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
})();`;
}

/**
 * Waits until the page has painted `target` (its mark is set) and returns the mark: ms since the
 * document's navigation started. Evaluated through the DevTools protocol (the page's CSP forbids
 * eval, which Playwright's polling `waitForFunction` needs for a string).
 * @throws Error after `timeoutMs`.
 */
export async function waitForPaint(page: Page, target: PaintTargetName, timeoutMs = 30_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${target} not painted within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      page.evaluate<number>(`globalThis.__consoleBench.when(${JSON.stringify(target)})`),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
