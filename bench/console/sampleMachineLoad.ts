import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { startLinuxCpuMeter } from "../shared/startLinuxCpuMeter.ts";

/** How busy the machine was while this benchmark waited: other people's work. */
export interface MachineLoad {
  readonly at: Date;
  /** The kernel's 1-minute load average (runnable tasks; 2 means both cores busy). */
  readonly loadAverage: number;
  /** The whole machine's CPU over the sample, in percent of all cores. */
  readonly busyPercent: number;
}

/** Watches the machine for `ms` while this benchmark does nothing (its server and browser idle). */
export async function sampleMachineLoad(ms = 1000): Promise<MachineLoad> {
  const at = new Date();
  const cpu = startLinuxCpuMeter([]);
  await sleep(ms);
  return { at, loadAverage: os.loadavg()[0] ?? Number.NaN, busyPercent: cpu().machinePercent };
}

/** A sample of the machine's load, and what was about to be measured. */
export interface LabelledLoad {
  readonly label: string;
  readonly load: MachineLoad;
}
