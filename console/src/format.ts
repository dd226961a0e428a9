/** How the console writes numbers and times: the same everywhere, in the operator's locale. */

const COUNT = new Intl.NumberFormat(undefined);
const PERCENT = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : COUNT.format(value);
}

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : PERCENT.format(value);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** An instant as UTC text without milliseconds: what support reads out, unambiguous. */
export function instant(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return "—";
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime()) ? iso : `${parsed.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A day `days` before today (UTC), as YYYY-MM-DD. */
export function dayBefore(days: number, from = new Date()): string {
  return new Date(from.getTime() - days * 86_400_000).toISOString().slice(0, 10);
}
