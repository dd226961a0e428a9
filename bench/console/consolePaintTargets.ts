/** The moments of the console the benchmark times. */
export type PaintTargetName = "overview" | "timeline" | "ruleStates" | "timelineAll";

/** A moment: `count` elements matching `selector` are in the page. */
export interface PaintTarget {
  readonly name: PaintTargetName;
  readonly selector: string;
  readonly count: number;
}

/**
 * What each moment looks like in the console's DOM (its `data-testid`s, as the browser tests read
 * them): the overview's funnel figures (rendered once `/reports/funnel` answered), the customer
 * page's first timeline entry (its newest page), its "why no alert?" rules (`/rule-states`), and
 * `timelineEntries` entries (the whole timeline, after clicking through its pages).
 */
export function consolePaintTargets(timelineEntries: number): readonly PaintTarget[] {
  return [
    { name: "overview", selector: "[data-testid=total-requested]", count: 1 },
    { name: "timeline", selector: "[data-testid=timeline] li", count: 1 },
    { name: "ruleStates", selector: "[data-testid=why-panel] li", count: 1 },
    { name: "timelineAll", selector: "[data-testid=timeline] li", count: timelineEntries },
  ];
}
