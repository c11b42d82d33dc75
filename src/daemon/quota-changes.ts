import {
  type CgroupQuota,
  type CgroupTree,
  cgroupChildren,
  missingControllers,
  prepareCgroup,
} from '../process/cgroup.ts';
import { liftQuota, moveIntoCgroups } from '../process/cgroup-move.ts';

/**
 * A quota given, changed or taken away while a user's daemons run (a SIGHUP, a change of
 * groups) applies to them at once, not only to the daemons started afterwards: root sets
 * one in reaction to a user's abuse, and the daemons abusing are the running ones. None
 * is restarted: their processes are moved into the user's cgroups, where the limits are
 * written; a limit taken away is lifted where they are.
 */

/** A running daemon of the user: its id, and its own process limit. */
export interface RunningDaemon {
  readonly id: string;
  readonly nproc: number | undefined;
}

/** Are two quotas the same? */
export function sameQuota(a: CgroupQuota, b: CgroupQuota): boolean {
  return a.memory === b.memory && a.cpu === b.cpu && a.tasks === b.tasks;
}

/** A quota as the manager's log says it: `memory=67108864, tasks=50`, or `none`. */
export function describeQuota(quota: CgroupQuota): string {
  const parts = Object.entries(quota)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/**
 * Puts the user's running daemons under `quota`: what the manager's log says of it, one
 * line, and whether it is a warning (something could not be applied).
 */
export function applyQuotaToRunning(
  tree: CgroupTree | undefined,
  user: string,
  quota: CgroupQuota,
  daemons: readonly RunningDaemon[],
): { line: string; warn: boolean } {
  const head = `the quota of '${user}' is now ${describeQuota(quota)}`;
  const missing = missingControllers(tree, quota);
  const problems =
    missing.length === 0
      ? []
      : [
          `it needs the cgroup controllers ${missing.join(', ')}, which the manager does not have here (cgroups = no, or not mounted)`,
        ];
  if (tree === undefined)
    return {
      line: `${head}: ${problems.join('; ')}; their running daemons are not under it`,
      warn: true,
    };
  const lifted = liftQuota(tree, user, quota);
  if (lifted !== undefined) problems.push(lifted);
  let moved = 0;
  for (const daemon of daemons) {
    const cgroups = prepareCgroup(tree, daemon.id, daemon.nproc, quota);
    if ('error' in cgroups) {
      problems.push(`${daemon.id}: ${cgroups.error}`);
      continue;
    }
    // Every run of the daemon (its own, and a health check's beside it).
    const leaves = [cgroups.cgroup, ...cgroupChildren(cgroups.cgroup)];
    const result = moveIntoCgroups(leaves, cgroups.joins);
    if ('error' in result) problems.push(`${daemon.id}: ${result.error}`);
    else moved += result.moved;
  }
  const done = `applied to their ${daemons.length} running daemons (${moved} processes moved, none restarted)`;
  return problems.length === 0
    ? { line: `${head}: ${done}`, warn: false }
    : { line: `${head}: ${done}, but ${problems.join('; ')}`, warn: true };
}
