import { procField, readProc, readStat, threadsOf } from './proc.ts';

/** CPU and scheduling counters of a set of processes at one instant. */
export interface CpuSample {
  /** utime + stime from /proc/PID/stat, every thread included, in clock ticks. */
  readonly ticks: number;
  /** Time on CPU of the live threads, from /proc/PID/task/TID/schedstat, in ns. */
  readonly runNs: number;
  /** Voluntary + involuntary context switches of the live threads. */
  readonly switches: number;
  /** The same two counters by thread (`PID/TID`), to see threads start and end. */
  readonly threads: ReadonlyMap<string, { readonly runNs: number; readonly switches: number }>;
}

/** What a set of processes used over a window. */
export interface CpuUse {
  /** From /proc/PID/stat: 10 ms resolution, so 0 means "under a tick". */
  readonly statMs: number;
  /** From schedstat: nanosecond resolution. */
  readonly schedMs: number;
  /**
   * Each one is the process going to sleep and being woken again (or preempted). A thread
   * that ended in the window counts as one (it woke up to end; what it did before is not
   * known); one that started counts with all of its own.
   */
  readonly switches: number;
  /** Threads that ended and started in the window (absent in older files). */
  readonly threadsEnded?: number;
  readonly threadsStarted?: number;
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
  const threads = new Map<string, { runNs: number; switches: number }>();
  for (const pid of pids) {
    ticks += readStat(pid)?.cpuTicks ?? 0;
    for (const tid of threadsOf(pid)) {
      const ns = Number(readProc(`/proc/${pid}/task/${tid}/schedstat`).split(' ')[0] ?? 0) || 0;
      const status = readProc(`/proc/${pid}/task/${tid}/status`);
      const count =
        procField(status, 'voluntary_ctxt_switches') +
        procField(status, 'nonvoluntary_ctxt_switches');
      runNs += ns;
      switches += count;
      threads.set(`${pid}/${tid}`, { runNs: ns, switches: count });
    }
  }
  return { ticks, runNs, switches, threads };
}

/**
 * The difference between two samples, thread by thread: a sum over the live threads alone
 * would go down when a thread ends (a pool's thread once its burst of work is over),
 * hiding the wake-ups of the others.
 */
export function cpuBetween(before: CpuSample, after: CpuSample): CpuUse {
  let runNs = 0;
  let switches = 0;
  let threadsStarted = 0;
  for (const [tid, now] of after.threads) {
    const then = before.threads.get(tid);
    if (!then) threadsStarted++;
    runNs += now.runNs - (then?.runNs ?? 0);
    switches += now.switches - (then?.switches ?? 0);
  }
  let threadsEnded = 0;
  for (const tid of before.threads.keys()) if (!after.threads.has(tid)) threadsEnded++;
  return {
    statMs: (after.ticks - before.ticks) * TICK_MS,
    schedMs: runNs / 1e6,
    switches: switches + threadsEnded,
    threadsEnded,
    threadsStarted,
  };
}
