import { writeFileSync } from 'node:fs';
import { procField, readProc } from './proc.ts';

/** Memory of a set of processes, summed, in KiB. */
export interface Memory {
  /** Resident pages, shared ones counted once per process. */
  readonly rssKb: number;
  /** Proportional set size: each shared page divided among the processes mapping it. */
  readonly pssKb: number;
  /** Pages written by the process itself: what it really costs the machine. */
  readonly privateDirtyKb: number;
}

/**
 * Sums /proc/PID/smaps_rollup over the processes: one file per process that the kernel
 * computes by walking every mapping, so it is exact but not free (about a millisecond
 * for a Node process); it is read once per run, outside the idle window.
 */
export function memoryOf(pids: readonly number[]): Memory {
  let rssKb = 0;
  let pssKb = 0;
  let privateDirtyKb = 0;
  for (const pid of pids) {
    const text = readProc(`/proc/${pid}/smaps_rollup`);
    rssKb += procField(text, 'Rss');
    pssKb += procField(text, 'Pss');
    privateDirtyKb += procField(text, 'Private_Dirty');
  }
  return { rssKb, pssKb, privateDirtyKb };
}

/**
 * Resets the peak RSS (VmHWM) of each process: writing 5 to /proc/PID/clear_refs does
 * that since Linux 4.0, so a peak can be measured over one phase of a long-lived process.
 */
export function resetPeakRss(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Gone meanwhile, or an old kernel: the peak then covers the whole life.
    }
  }
}

/** The sum of each process's peak RSS (VmHWM) since its last reset, in KiB. */
export function peakRssOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += procField(readProc(`/proc/${pid}/status`), 'VmHWM');
  return total;
}
