import { readFile } from "node:fs/promises";

/**
 * The highest RSS process `pid` has had since it started, in MB (Linux's `VmHWM`, so no sample
 * can miss a peak); undefined where /proc cannot say (another system, a process gone).
 */
export async function peakRssOfProcess(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kilobytes = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return kilobytes === undefined ? undefined : Math.round(Number(kilobytes) / 1024);
}
