import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CgroupQuota, type CgroupTree, cpuSharesOf, runMembers } from './cgroup.ts';
import { freezeCgroup, thawCgroup } from './cgroup-freeze.ts';

/**
 * Putting running daemons under a quota changed while they run (prepareCgroup does it for
 * a start). A process forked while its parent is moved stays where the parent was, and a
 * daemon whose processes fork and exit in a loop outran any number of passes over their
 * list (an outside review: 5 runs in 10, the escaped processes then held 1 GB against a
 * 64 MB quota); so the daemon's cgroup2 cgroup is frozen first, its processes moved while
 * none can fork, and thawed (see cgroup-freeze.ts). Each move into a v1 cgroup waits for
 * an RCU grace period (10-20 ms): the writes are asynchronous, and the manager answers
 * meanwhile. The memory a process holds already stays charged where it was: the kernel
 * no longer moves charges between v1 memory cgroups (memory.move_charge_at_immigrate is
 * refused since Linux 6.x), so a memory quota bounds what the daemon takes from then on.
 */

/** How long a daemon's cgroup may take to freeze before the move is given up. */
const FREEZE_TIMEOUT_MS = 2_000;
/** Looks for processes still outside, in a frozen cgroup: only a run started meanwhile adds one. */
const MAX_PASSES = 3;

/**
 * Moves every process of the daemon's cgroup2 `cgroup` (its runs' cgroups below it too)
 * into each of the v1 cgroups whose `cgroup.procs` files are `joins`, frozen meanwhile.
 * Returns how many were moved, or why they could not all be (a process gone meanwhile is
 * no error).
 */
export async function moveIntoCgroups(
  cgroup: string,
  joins: readonly string[],
): Promise<{ moved: number } | { error: string }> {
  const refused = await freezeCgroup(cgroup, FREEZE_TIMEOUT_MS);
  if (refused !== undefined) return { error: refused };
  let result: { moved: number } | { error: string };
  try {
    result = await moveFrozen(cgroup, joins);
  } finally {
    const stuck = thawCgroup(cgroup);
    if (stuck !== undefined) result = { error: stuck };
  }
  return result;
}

async function moveFrozen(
  cgroup: string,
  joins: readonly string[],
): Promise<{ moved: number } | { error: string }> {
  // Counted once each, however many hierarchies it joins (the log said 144 "processes
  // moved" of 72 moved into two).
  const moved = new Set<number>();
  for (const procs of joins) {
    for (let pass = 0; ; pass++) {
      const inside = new Set(readPids(procs));
      const members = runMembers(cgroup);
      const outside = members.filter((pid) => !inside.has(pid));
      if (outside.length === 0) break;
      if (pass === MAX_PASSES)
        return { error: `${outside.length} processes still outside ${procs}` };
      for (const pid of outside) {
        try {
          await writeFile(procs, String(pid));
          moved.add(pid);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ESRCH') return { error: `cannot move pid ${pid} into ${procs} (${code})` };
        }
      }
    }
  }
  return { moved: moved.size };
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
    [tree.cpuBase, quota.cpuWeight === undefined, 'cpu.shares', String(cpuSharesOf(undefined))],
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

/**
 * Are all of the daemon's processes already in each of `joins`? Then a move has nothing to
 * do, and the daemon is not frozen for it. `read` may cache: one user's daemons share
 * their user's cgroups.
 */
export function alreadyJoined(
  cgroup: string,
  joins: readonly string[],
  read: (procs: string) => ReadonlySet<number> = (procs) => new Set(readPids(procs)),
): boolean {
  const members = runMembers(cgroup);
  return joins.every((procs) => {
    const inside = read(procs);
    return members.every((pid) => inside.has(pid));
  });
}

/** Has anyone of a user's daemons' processes in the v1 cgroup `dir`? */
export function hasMembers(dir: string): boolean {
  return readPids(join(dir, 'cgroup.procs')).length > 0;
}

export function readPids(procs: string): number[] {
  try {
    return readFileSync(procs, 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
