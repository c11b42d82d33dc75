import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CgroupQuota, type CgroupTree, cgroupMembers } from './cgroup.ts';

/**
 * Putting running daemons under a quota changed while they run (prepareCgroup does it for
 * a start). A process forked while its parent is moved stays where the parent was, so
 * moving goes on until a look finds none left behind. The memory a process holds already
 * stays charged where it was: the kernel no longer moves charges between v1 memory
 * cgroups (memory.move_charge_at_immigrate is refused since Linux 6.x), so a memory quota
 * bounds what the daemon takes from then on.
 */

/** Passes before giving up on a daemon that forks faster than it is moved. */
const MAX_PASSES = 20;

/**
 * Moves every process of the cgroup2 `leaves` into each of the v1 cgroups whose
 * `cgroup.procs` files are `joins`. Returns how many were moved, or the first error
 * (a process gone meanwhile is no error).
 */
export function moveIntoCgroups(
  leaves: readonly string[],
  joins: readonly string[],
): { moved: number } | { error: string } {
  let moved = 0;
  for (const procs of joins) {
    for (let pass = 0; ; pass++) {
      const inside = new Set(readPids(procs));
      const outside = leaves.flatMap(cgroupMembers).filter((pid) => !inside.has(pid));
      if (outside.length === 0) break;
      if (pass === MAX_PASSES)
        return { error: `${outside.length} processes still outside ${procs}` };
      for (const pid of outside) {
        try {
          writeFileSync(procs, String(pid));
          moved++;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ESRCH') return { error: `cannot move pid ${pid} into ${procs} (${code})` };
        }
      }
    }
  }
  return { moved };
}

/**
 * Lifts the limits a user's quota cgroups still carry for what the quota no longer has
 * (their processes stay in them, unbounded). Returns the first error (a cgroup never made
 * is no error).
 */
export function liftQuota(tree: CgroupTree, user: string, quota: CgroupQuota): string | undefined {
  const lifts: [string | undefined, boolean, string, string][] = [
    [tree.memoryBase, quota.memory === undefined, 'memory.limit_in_bytes', '-1'],
    [tree.cpuBase, quota.cpu === undefined, 'cpu.cfs_quota_us', '-1'],
    [tree.pidsBase, quota.tasks === undefined, 'pids.max', 'max'],
  ];
  for (const [base, lifted, file, unlimited] of lifts) {
    if (base === undefined || !lifted) continue;
    const path = join(base, user, file);
    try {
      writeFileSync(path, unlimited);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return `cannot lift ${path} (${code})`;
    }
  }
  return undefined;
}

function readPids(procs: string): number[] {
  try {
    return readFileSync(procs, 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
