import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { dailyChartOptions, dayToSeconds } from "../parts/dailyChartOptions.ts";
import type { FunnelTotals } from "../reports.ts";

const SERIES: readonly {
  readonly label: string;
  readonly value: (totals: FunnelTotals) => number;
  readonly stroke: string;
}[] = [
  { label: "Qualified", value: (totals) => totals.qualified, stroke: "#5b4a9b" },
  { label: "Requested", value: (totals) => totals.requested, stroke: "#1f5fa8" },
  { label: "Suppressed", value: (totals) => totals.suppressed, stroke: "#a35c00" },
  { label: "Deferred", value: (totals) => totals.deferred, stroke: "#7a6a00" },
  { label: "Submitted", value: (totals) => totals.submitted, stroke: "#006b75" },
  { label: "Delivered", value: (totals) => totals.delivered, stroke: "#1b7a2e" },
  {
    label: "Undelivered / failed",
    value: (totals) => totals.undelivered + totals.failed + totals.rejected + totals.expired,
    stroke: "#b3261e",
  },
];

/** The funnel per day, one line per stage (uPlot, drawn on a canvas; the table beside it has the numbers). */
export function FunnelChart({ days }: { readonly days: readonly { day: string; totals: FunnelTotals }[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const data: uPlot.AlignedData = [
      days.map((entry) => dayToSeconds(entry.day)),
      ...SERIES.map((series) => days.map((entry) => series.value(entry.totals))),
    ];
    const chart = new uPlot(
      dailyChartOptions({
        width: element.clientWidth,
        height: 280,
        series: SERIES.map((series) => ({ label: series.label, stroke: series.stroke, width: 2 })),
        yLabel: "Messages",
      }),
      data,
      element,
    );
    return () => chart.destroy();
  }, [days]);
  return (
    <div
      ref={box}
      class="chart"
      role="img"
      aria-label="Funnel per day: qualified, requested, suppressed, deferred, submitted, delivered, undelivered or failed"
    />
  );
}
