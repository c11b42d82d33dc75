import { readdirSync } from 'node:fs';
import { childrenOf, commOf, procField, readProc, readStat } from './proc.ts';

/** What one look at a supervisor's processes shows, summed over them. */
export interface ProcessSample {
  /** Open descriptors (NaN once every process is gone). */
  readonly fds: number;
  readonly rssKb: number;
  /** utime + stime, every thread, in clock ticks (10 ms). */
  readonly cpuTicks: number;
  /** Their children that ended and that they have not waited for yet. */
  readonly zombieChildren: number;
}

/**
 * daemon-manager's processes: the manager and its `dm-keeper`, the process that forks,
 * holds and reaps every daemon (a child of the manager that started it; after a kill -9
 * of the manager, a child of whoever adopted it, so it is looked up again each time).
 */
export function managerProcesses(managerPid: number): number[] {
  return [managerPid, ...keepersOf(managerPid)];
}

/** The `dm-keeper` children of a manager. */
export function keepersOf(managerPid: number): number[] {
  return childrenOf(managerPid).filter((pid) => commOf(pid) === 'dm-keeper');
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

/** One look at several processes, summed (a process gone counts as nothing). */
export function sampleProcesses(pids: readonly number[]): ProcessSample {
  const samples = pids.map(sampleProcess).filter((sample) => !Number.isNaN(sample.fds));
  if (samples.length === 0) return sampleProcess(pids[0] ?? 0);
  const sum = (key: keyof ProcessSample): number =>
    samples.reduce((total, sample) => total + sample[key], 0);
  return {
    fds: sum('fds'),
    rssKb: sum('rssKb'),
    cpuTicks: sum('cpuTicks'),
    zombieChildren: sum('zombieChildren'),
  };
}
