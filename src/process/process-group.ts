import { readdirSync, readFileSync } from 'node:fs';
import { cgroupMembers } from './cgroup.ts';

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

/** Every process of one daemon: its process group, and its cgroup where there is one. */
export interface ProcessScope {
  readonly pgid: number;
  /** The daemon's cgroup directory: finds the processes that left the group. */
  readonly cgroup: string | undefined;
}

/** Does any process of the daemon still live (zombies are dead)? */
export function scopeHasLiveMembers(scope: ProcessScope): boolean {
  if (groupHasLiveMembers(scope.pgid)) return true;
  if (scope.cgroup === undefined) return false;
  return cgroupMembers(scope.cgroup).some((pid) => {
    const stat = readStat(pid);
    return stat !== undefined && stat.state !== 'Z';
  });
}

/** Signals the daemon's process group and every process in its cgroup, each once. */
export function signalScope(scope: ProcessScope, signal: NodeJS.Signals): boolean {
  let reached = signalGroup(scope.pgid, signal);
  if (scope.cgroup === undefined) return reached;
  for (const pid of cgroupMembers(scope.cgroup)) {
    // The group's members have it already: a second SIGHUP would reload twice.
    if (readStat(pid)?.pgrp === scope.pgid) continue;
    try {
      process.kill(pid, signal);
      reached = true;
    } catch {
      // Exited meanwhile.
    }
  }
  return reached;
}

/** The supplementary groups a process holds (the `Groups:` of /proc/PID/status); undefined once it is gone. */
export function heldGroups(pid: number): number[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const line = /^Groups:(.*)$/m.exec(text)?.[1] ?? '';
  return line.split(/\s+/).filter(Boolean).map(Number);
}
