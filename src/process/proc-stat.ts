import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * The real gid and the supplementary groups of a process (`Gid:` and `Groups:` of
 * /proc/PID/status); undefined once it is gone.
 */
export function heldGids(pid: number): number[] | undefined {
  const text = statusOf(pid);
  if (text === undefined) return undefined;
  const gid = /^Gid:\s*(\d+)/m.exec(text)?.[1];
  const line = /^Groups:(.*)$/m.exec(text)?.[1] ?? '';
  const groups = line.split(/\s+/).filter(Boolean).map(Number);
  return gid === undefined ? groups : [Number(gid), ...groups];
}

/** The real uid of a process (the first of `Uid:` in /proc/PID/status); undefined once it is gone. */
export function realUid(pid: number): number | undefined {
  const uid = /^Uid:\s*(\d+)/m.exec(statusOf(pid) ?? '')?.[1];
  return uid === undefined ? undefined : Number(uid);
}

/** /proc/PID/status, or undefined once the process is gone. */
function statusOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether `pid` is the process that began at `startTicks`, alive (not a zombie). */
export function provenAlive(pid: number, startTicks: number | undefined): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.startTime === startTicks && stat.state !== 'Z';
}

/**
 * Does what a run left of its process group live on, its main process gone (no cgroup)?
 * A process in group `pgid`, begun no earlier than the run (`startTicks`), of the run's real
 * uid, not a zombie. None where the group's number is another process's own again (the
 * kernel hands a number out again only once no process, group or session uses it: the
 * group was gone by then); the run's main process left a zombie leads no one. The keeper
 * looks the same way for itself (native/keeper/runs.c `find_members`).
 */
export function groupLivesOn(pgid: number, startTicks: number, uid: number): boolean {
  const leader = readStat(pgid);
  if (leader !== undefined && !(leader.startTime === startTicks && leader.state === 'Z'))
    return false;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return false;
  }
  return names.some((name) => {
    if (!/^\d+$/.test(name)) return false;
    const stat = readStat(Number(name));
    return (
      stat !== undefined &&
      stat.pgrp === pgid &&
      stat.state !== 'Z' &&
      stat.startTime >= startTicks &&
      realUid(Number(name)) === uid
    );
  });
}

let bootIdRead: string | undefined;

/**
 * This boot's id (/proc/sys/kernel/random/boot_id; undefined if it cannot be read): pids and
 * start times name processes within one boot only.
 */
export function bootId(): string | undefined {
  try {
    bootIdRead ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
  return bootIdRead;
}
