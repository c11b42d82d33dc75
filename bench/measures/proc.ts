import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The fields of /proc/PID/stat the bench uses. */
export interface ProcStat {
  readonly state: string;
  readonly ppid: number;
  /** utime + stime of every thread, live or ended, in clock ticks (USER_HZ, 100 here). */
  readonly cpuTicks: number;
}

/**
 * Reads /proc/PID/stat. The command name (field 2) may hold spaces and parentheses, so
 * fields are counted from the last ')'.
 */
export function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field - 3.
    return {
      state: fields[0] ?? '?',
      ppid: Number(fields[1]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined;
  }
}

/**
 * Alive means present and not a zombie: this machine's PID 1 does not reap orphans, so a
 * process whose parent died before it stays a zombie for good, and counts as dead.
 */
export function isAlive(pid: number): boolean {
  const state = readStat(pid)?.state;
  return state !== undefined && state !== 'Z';
}

/** The pids of a process's children, from /proc/PID/task/TID/children (every thread). */
export function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1').split(' '))
        if (child.trim() !== '') pids.push(Number(child));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return pids;
}

/** The short command name (comm) of a process, or undefined once it is gone. */
export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return undefined;
  }
}

/** The thread ids of a process (empty once it is gone). */
export function threadsOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** Reads one `Key:  value` line of a /proc status-like file, as a number. */
export function procField(text: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Reads a /proc file, or '' once the process is gone. */
export function readProc(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** Waits until none of these processes is alive (zombies count as dead). */
export async function waitUntilDead(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** Sends SIGKILL to each pid still alive; for cleanup after a failed stop. */
export function killSurvivors(pids: readonly number[]): number[] {
  const survivors = pids.filter(isAlive);
  for (const pid of survivors) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return survivors;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Processes of the whole machine in state Z (ended, not waited for by their parent). */
export function countZombies(): number {
  let zombies = 0;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    if (readStat(Number(entry))?.state === 'Z') zombies++;
  }
  return zombies;
}

/**
 * Living processes of one run of the bench: those whose environment holds `marker`
 * (`NAME=value`, read as root from /proc/PID/environ), whose command line names something
 * under `dir`, or that live in one of `cgroups`. All three, because a daemon may have been
 * started with an empty environment (a launcher whose manager died mid-start) or left its
 * cgroup, and a `sleep` child names nothing of the run.
 */
export function livePidsOfRun(marker: string, dir: string, cgroups: Iterable<string>): number[] {
  const pids = new Set<number>();
  for (const cgroup of cgroups)
    for (const pid of readProc(join(cgroup, 'cgroup.procs')).split('\n'))
      if (pid !== '') pids.add(Number(pid));
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    if (
      readProc(`/proc/${entry}/environ`).split('\0').includes(marker) ||
      readProc(`/proc/${entry}/cmdline`).includes(dir)
    )
      pids.add(Number(entry));
  }
  return [...pids].filter((pid) => pid !== process.pid && isAlive(pid));
}

/** Living processes whose real uid is `uid`. */
export function livePidsOfUid(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const line = /^Uid:\s+(\d+)/m.exec(readProc(`/proc/${entry}/status`));
    if (line && Number(line[1]) === uid && isAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}
