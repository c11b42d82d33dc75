import { procField, readProc, readStat, threadsOf } from './proc.ts';

/** CPU and scheduling counters of a set of processes at one instant. */
export interface CpuSample {
  /** utime + stime from /proc/PID/stat, every thread included, in clock ticks. */
  readonly ticks: number;
  /** Time on CPU of the live threads, from /proc/PID/task/TID/schedstat, in ns. */
  readonly runNs: number;
  /** Voluntary + involuntary context switches of the live threads. */
  readonly switches: number;
}

/** What a set of processes used over a window. */
export interface CpuUse {
  /** From /proc/PID/stat: 10 ms resolution, so 0 means "under a tick". */
  readonly statMs: number;
  /** From schedstat: nanosecond resolution. */
  readonly schedMs: number;
  /** Each one is the process going to sleep and being woken again (or preempted). */
  readonly switches: number;
}

const TICK_MS = 10;

/**
 * Samples the counters. /proc/PID/stat sums the times of all threads, but
 * voluntary_ctxt_switches in /proc/PID/status is the main thread's alone, so the switches
 * (and schedstat, for the ns resolution) are summed over /proc/PID/task/* instead: Node
 * and PM2 have a dozen threads (V8 workers, the libuv pool) that could wake up on their own.
 */
export function sampleCpu(pids: readonly number[]): CpuSample {
  let ticks = 0;
  let runNs = 0;
  let switches = 0;
  for (const pid of pids) {
    ticks += readStat(pid)?.cpuTicks ?? 0;
    for (const tid of threadsOf(pid)) {
      runNs += Number(readProc(`/proc/${pid}/task/${tid}/schedstat`).split(' ')[0] ?? 0) || 0;
      const status = readProc(`/proc/${pid}/task/${tid}/status`);
      switches +=
        procField(status, 'voluntary_ctxt_switches') +
        procField(status, 'nonvoluntary_ctxt_switches');
    }
  }
  return { ticks, runNs, switches };
}

/** The difference between two samples. */
export function cpuBetween(before: CpuSample, after: CpuSample): CpuUse {
  return {
    statMs: (after.ticks - before.ticks) * TICK_MS,
    schedMs: (after.runNs - before.runNs) / 1e6,
    switches: after.switches - before.switches,
  };
}
