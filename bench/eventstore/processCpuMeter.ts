import { performance } from "node:perf_hooks";

/**
 * Starts measuring this process's CPU time; the returned function gives the share of one core used
 * since then, in percent (user + system). On a small machine the client's CPU is CPU PostgreSQL
 * does not get, so the report shows it next to each store's numbers.
 */
export function startProcessCpuMeter(): () => number {
  const cpuAtStart = process.cpuUsage();
  const startedAt = performance.now();
  return () => {
    const { user, system } = process.cpuUsage(cpuAtStart);
    const elapsedMs = performance.now() - startedAt;
    return elapsedMs > 0 ? ((user + system) / 1000 / elapsedMs) * 100 : Number.NaN;
  };
}
