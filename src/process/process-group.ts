import { readdirSync, readFileSync } from 'node:fs';

/**
 * Does the process group still have a living member? `kill(-pgid, 0)` answers "no"
 * cheaply in the common case. A "yes" may only mean zombies: a member whose parent
 * died is reparented to init, and an init that does not reap (as in some containers)
 * leaves it a zombie forever, still counted by kill(). So a "yes" is checked against
 * /proc, where zombies (state Z) are dead.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return liveMembersOf(pgid).length > 0;
}

/** The pids of the group's members that are not zombies, read from /proc. */
export function liveMembersOf(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') members.push(Number(entry));
  }
  return members;
}

/** The fields of /proc/PID/stat the manager uses; undefined once the process is gone. */
export interface ProcStat {
  readonly state: string;
  readonly pgrp: number;
  /** Start time in clock ticks after boot: with the pid, a process's identity. */
  readonly startTime: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', pgrp: Number(fields[2]), startTime: Number(fields[19]) };
}

/** Sends a signal to a whole process group; false if the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
