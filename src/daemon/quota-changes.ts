import {
  type CgroupQuota,
  type CgroupTree,
  missingControllers,
  prepareCgroup,
} from '../process/cgroup.ts';
import { liftQuota, moveIntoCgroups } from '../process/cgroup-move.ts';

/**
 * A quota given, changed or taken away while a user's daemons run (a SIGHUP, a change of
 * groups) applies to them at once, not only to the daemons started afterwards: root sets
 * one in reaction to a user's abuse, and the daemons abusing are the running ones. Their
 * processes are moved into the user's cgroups, where the limits are written; a limit
 * taken away is lifted where they are. A daemon whose processes cannot all be moved (its
 * cgroup cannot be frozen) is restarted instead, so that it starts inside the quota:
 * left running, its processes outside would escape the quota for good.
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

/** What putting a user's running daemons under a quota did. */
export interface QuotaApplied {
  /** The manager's log line. */
  readonly line: string;
  /** Something could not be applied. */
  readonly warn: boolean;
  /** The daemons to restart inside the quota, each with why its processes were not moved. */
  readonly restart: ReadonlyMap<string, string>;
}

/**
 * Puts the user's running daemons under `quota` (moving their processes, see
 * cgroup-move.ts): what the manager's log says of it, and the daemons to restart.
 */
export async function applyQuotaToRunning(
  tree: CgroupTree | undefined,
  user: string,
  quota: CgroupQuota,
  daemons: readonly RunningDaemon[],
): Promise<QuotaApplied> {
  const head = `the quota of '${user}' is now ${describeQuota(quota)}`;
  const restart = new Map<string, string>();
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
      restart,
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
    if (cgroups.joins.length === 0) continue;
    const result = await moveIntoCgroups(cgroups.cgroup, cgroups.joins);
    if ('error' in result) restart.set(daemon.id, result.error);
    else moved += result.moved;
  }
  const restarted =
    restart.size === 0
      ? 'none restarted'
      : `restarted ${[...restart].map(([id, why]) => `${id} inside it (its processes could not all be moved: ${why})`).join(', ')}`;
  const done = `applied to their ${daemons.length} running daemons (${moved} processes moved, ${restarted})`;
  return problems.length === 0
    ? { line: `${head}: ${done}`, warn: restart.size > 0, restart }
    : { line: `${head}: ${done}, but ${problems.join('; ')}`, warn: true, restart };
}
