import uPlot from "uplot";

/** A day (YYYY-MM-DD, UTC) as the chart's x value: seconds since the epoch. */
export function dayToSeconds(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000;
}

/**
 * The options of a chart of daily counts (the overview's funnel, a backtest): one tick per day,
 * written as the date in UTC, one line per series, counts up the side.
 */
export function dailyChartOptions(options: {
  readonly width: number;
  readonly height: number;
  readonly series: readonly uPlot.Series[];
  readonly yLabel: string;
}): uPlot.Options {
  return {
    width: Math.max(320, options.width),
    height: options.height,
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
    series: [{ label: "Day" }, ...options.series],
    // One tick per day, written as the date: the data are daily.
    axes: [
      {
        incrs: [86_400],
        space: 50,
        values: (_chart, ticks) => ticks.map((tick) => new Date(tick * 1000).toISOString().slice(5, 10)),
      },
      { label: options.yLabel },
    ],
    scales: { x: { time: true } },
  };
}
