import { readFileSync } from 'node:fs';
import { cgroupMembers } from '../process/cgroup.ts';

/** Where a run's processes are: its own cgroup (when the manager made one), its main pid. */
export interface RunPlace {
  readonly leaf: string | undefined;
  readonly mainPid: number;
}

/** Parents followed from a sender towards the main process before giving up. */
const MAX_DEPTH = 64;

/**
 * Is `pid` (the kernel's word for who sent a datagram, SCM_CREDENTIALS) one of the run's
 * own processes? In its cgroup, where it has one: a process cannot leave it without
 * write access to another cgroup, which a daemon does not have. Else (personal mode, no
 * cgroup2) the main process or a descendant of it, by the parent links in /proc: a
 * process that double-forked away (reparented to the keeper) no longer counts.
 *
 * A pid may be reused between the send and this check; only a process of the run's own
 * user can reach the socket (it is theirs, mode 0700), so what that race could let in
 * is that user's own process, not another user's.
 */
export function isOwnProcess(pid: number, place: RunPlace): boolean {
  if (pid <= 1) return false;
  if (place.leaf !== undefined) return cgroupMembers(place.leaf).includes(pid);
  if (place.mainPid <= 1) return false;
  let current = pid;
  for (let depth = 0; depth < MAX_DEPTH && current > 1; depth++) {
    if (current === place.mainPid) return true;
    const parent = parentOf(current);
    if (parent === undefined) return false;
    current = parent;
  }
  return false;
}

/** The parent pid in /proc/PID/stat (field 4, after the command name in parentheses). */
export function parentOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const parent = Number(fields[1]);
  return Number.isInteger(parent) ? parent : undefined;
}
