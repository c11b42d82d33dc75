import { readdirSync } from 'node:fs';
import { childrenOf, procField, readProc, readStat } from './proc.ts';

/** What one look at a supervisor process shows. */
export interface ProcessSample {
  /** Open descriptors (NaN once it is gone). */
  readonly fds: number;
  readonly rssKb: number;
  /** utime + stime, every thread, in clock ticks (10 ms). */
  readonly cpuTicks: number;
  /** Its children that ended and that it has not waited for yet. */
  readonly zombieChildren: number;
}

export function sampleProcess(pid: number): ProcessSample {
  let fds = Number.NaN;
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // Gone.
  }
  return {
    fds,
    rssKb: procField(readProc(`/proc/${pid}/status`), 'VmRSS'),
    cpuTicks: readStat(pid)?.cpuTicks ?? Number.NaN,
    zombieChildren: childrenOf(pid).filter((child) => readStat(child)?.state === 'Z').length,
  };
}
