import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { dailyChartOptions, dayToSeconds } from "../parts/dailyChartOptions.ts";

interface Funnel {
  readonly qualified: number;
  readonly requested: number;
  readonly suppressed: Readonly<Record<string, number>>;
  readonly deferred: number;
  readonly sent: number;
}

/** One day of one rule in a backtest's report. */
export interface BacktestRow {
  readonly day: string;
  readonly ruleId: string;
  readonly candidate: Funnel;
  readonly actual: Funnel;
}

/** SMS sent per day, every rule together: the candidate's beside what happened (the table has the numbers). */
export function BacktestChart({ rows }: { readonly rows: readonly BacktestRow[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null || rows.length === 0) return;
    const days = [...new Set(rows.map((row) => row.day))].sort();
    const sum = (day: string, side: "candidate" | "actual") =>
      rows.filter((row) => row.day === day).reduce((total, row) => total + row[side].sent, 0);
    const chart = new uPlot(
      dailyChartOptions({
        width: element.clientWidth,
        height: 220,
        series: [
          { label: "Would be sent", stroke: "#1f5fa8", width: 2 },
          { label: "Sent", stroke: "#6b6b6b", width: 2, dash: [6, 4] },
        ],
        yLabel: "SMS",
      }),
      [
        days.map(dayToSeconds),
        days.map((day) => sum(day, "candidate")),
        days.map((day) => sum(day, "actual")),
      ],
      element,
    );
    return () => chart.destroy();
  }, [rows]);
  return (
    <div
      ref={box}
      class="chart"
      role="img"
      aria-label="SMS per day: what the candidate rules would have sent beside what was sent"
    />
  );
}
