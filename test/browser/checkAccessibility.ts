import axe from "axe-core";
import type { Page } from "playwright-core";

/** An axe-core violation as the test reports it. */
export interface Violation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: readonly string[];
}

/**
 * Runs axe-core (WCAG 2.x A and AA rules) on the page as it stands and returns the serious and
 * critical violations. axe is evaluated through the DevTools protocol, which the page's CSP does
 * not govern, so the console's strict policy stays on while it is checked.
 */
export async function seriousViolations(page: Page): Promise<readonly Violation[]> {
  await page.evaluate(axe.source);
  // A string, evaluated in the page: the tests' TypeScript has no DOM types.
  const violations = await page.evaluate<Violation[]>(`axe
    .run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
    .then((result) => result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact ?? null,
      help: violation.help,
      targets: violation.nodes.map((node) => node.target.join(" ")),
    })))`);
  return violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical");
}
