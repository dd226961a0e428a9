import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** CPU used between a meter's start and a reading. */
export interface CpuReading {
  /** The whole machine, in percent of all its cores (NaN where /proc/stat is missing). */
  readonly machinePercent: number;
  /** This process, in percent of one core. */
  readonly selfPercent: number;
  /** The server's processes together, in percent of one core (NaN where /proc is missing). */
  readonly serverPercent: number;
}

// Clock ticks per second of /proc's counters: USER_HZ, 100 on every mainstream Linux build.
const TICKS_PER_SECOND = 100;

/**
 * Starts measuring where the CPU goes while a load runs: the machine (from /proc/stat), this
 * process (the load generator) and the server's processes (from /proc/<pid>/stat). On a 2-core
 * machine shared by load generator, server and PostgreSQL this tells a slow server from a
 * saturated machine.
 */
export function startLinuxCpuMeter(serverPids: readonly number[]): () => CpuReading {
  const machineAtStart = machineTicks();
  const serverAtStart = processesTicks(serverPids);
  const selfAtStart = process.cpuUsage();
  const startedAt = performance.now();
  return () => {
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    const machine = machineTicks();
    const server = processesTicks(serverPids);
    const self = process.cpuUsage(selfAtStart);
    return {
      machinePercent:
        machine === undefined || machineAtStart === undefined
          ? Number.NaN
          : ((machine.busy - machineAtStart.busy) / (machine.total - machineAtStart.total)) * 100,
      selfPercent: ((self.user + self.system) / 1e6 / elapsedSeconds) * 100,
      serverPercent:
        server === undefined || serverAtStart === undefined
          ? Number.NaN
          : ((server - serverAtStart) / TICKS_PER_SECOND / elapsedSeconds) * 100,
    };
  };
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    // idle and iowait
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function processesTicks(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const ticks = processTicks(pid);
    if (ticks === undefined) return undefined;
    sum += ticks;
  }
  return sum;
}

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}
