import { dirname, join } from 'node:path';
import {
  AS_STARTED,
  type CgroupQuota,
  type CgroupTree,
  missingControllers,
  needsCpuGroup,
  prepareCgroup,
} from '../process/cgroup.ts';
import {
  alreadyJoined,
  hasMembers,
  liftQuota,
  moveIntoCgroups,
  readPids,
} from '../process/cgroup-move.ts';

/**
 * A quota given, changed or taken away while a user's daemons run (a SIGHUP, a change of
 * groups) applies to them at once, not only to the daemons started afterwards: root sets
 * one in reaction to a user's abuse, and the daemons abusing are the running ones. Their
 * processes are moved into the user's cgroups, where the limits are written; a limit
 * taken away is lifted where they are. A daemon whose processes cannot all be moved (its
 * cgroup cannot be frozen) is restarted instead, so that it starts inside the quota:
 * left running, its processes outside would escape the quota for good. `cpu-fair-share`
 * turned on or off by SIGHUP is applied the same way: an operator turns it on against a
 * user whose processes are taking the CPU now, and turns it off to have every process
 * weighed alone again, now; so the user's processes join their `cpu` cgroup, or leave it
 * for the manager's own (where daemons outside it start).
 */

/** A running daemon of the user (its own process limit stays as its run started, see AS_STARTED). */
export interface RunningDaemon {
  readonly id: string;
}

/** Are two quotas the same? */
export function sameQuota(a: CgroupQuota, b: CgroupQuota): boolean {
  return (
    a.memory === b.memory &&
    a.cpu === b.cpu &&
    a.tasks === b.tasks &&
    a.cpuWeight === b.cpuWeight &&
    a.fairShare === b.fairShare
  );
}

/**
 * A quota as the manager's log says it: `memory=67108864, tasks=50`, or `none`; a fair
 * share, the default, goes unsaid, its absence is said (`cpu-fair-share=no`).
 */
export function describeQuota(quota: CgroupQuota): string {
  const named: [string, number | undefined][] = [
    ['memory', quota.memory],
    ['cpu', quota.cpu],
    ['tasks', quota.tasks],
    ['cpu-weight', quota.cpuWeight],
  ];
  const parts = named
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`);
  if (!quota.fairShare) parts.push('cpu-fair-share=no');
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** What putting a user's running daemons under a quota did. */
export interface QuotaApplied {
  /** The manager's log line. */
  readonly line: string;
  /** Something could not be applied. */
  readonly warn: boolean;
  /** How many processes were moved. */
  readonly moved: number;
  /** The daemons to restart inside the quota, each with why its processes were not moved. */
  readonly restart: ReadonlyMap<string, string>;
  /** The v1 cgroups each daemon's processes are in now, for what its run starts next. */
  readonly joins: ReadonlyMap<string, readonly string[]>;
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
  /**
   * Why the daemons not moved yet are to be left as they are, once they are: the manager
   * stops or hands over (an upgrade), said so; or a newer quota came (its own work moves
   * them), said by nothing but `superseded`.
   */
  halted: () => string | undefined = () => undefined,
  /** The user's memory limit was not written (a lowering cut short or given up). */
  memoryNotWritten = false,
): Promise<QuotaApplied> {
  // Not "is now" of a memory limit not in force (an outside review, 20a: said right after
  // the line saying it was not lowered).
  const head = memoryNotWritten
    ? `the quota of '${user}' (${describeQuota(quota)}) is not all in force: its memory limit is not written, the one before stays (see above)`
    : `the quota of '${user}' is now ${describeQuota(quota)}`;
  const restart = new Map<string, string>();
  const placed = new Map<string, readonly string[]>();
  const missing = missingControllers(tree, quota);
  const problems =
    missing.length === 0
      ? []
      : [
          `it needs the cgroup controllers ${missing.join(', ')}, which the manager does not have here (cgroups = no, or not mounted)`,
        ];
  if (tree === undefined)
    return {
      line: `${head}: ${problems.join('; ')}; their daemons with processes are not under it`,
      warn: true,
      moved: 0,
      restart,
      joins: placed,
    };
  const lifted = liftQuota(tree, user, quota);
  if (lifted !== undefined) problems.push(lifted);
  // Out of the user's cpu cgroup, into the manager's own, when nothing keeps them there.
  const leaveCpu =
    tree.cpuBase !== undefined && !needsCpuGroup(quota) && hasMembers(join(tree.cpuBase, user))
      ? join(dirname(tree.cpuBase), 'cgroup.procs')
      : undefined;
  const cache = new Map<string, ReadonlySet<number>>();
  const read = (procs: string): ReadonlySet<number> => {
    const known = cache.get(procs);
    if (known !== undefined) return known;
    const inside = new Set(readPids(procs));
    cache.set(procs, inside);
    return inside;
  };
  let moved = 0;
  let handled = 0;
  for (const daemon of daemons) {
    // Each move may wait 2 s for a freeze (a daemon stuck in the kernel): a SIGTERM of
    // the manager waited behind one user's many such daemons (an outside review: 39 s).
    const why = halted();
    if (why !== undefined) {
      // Not "applied" (an outside review read it of a quota the manager's stop cut short).
      problems.push(
        `${why}: ${daemons.length - handled} of their daemons with processes left as they were`,
      );
      break;
    }
    handled++;
    // A lower memory limit the lowering did not write is not written here either (an
    // outside review, 45a, F3: written so while a stop was under way).
    const cgroups = prepareCgroup(tree, daemon.id, AS_STARTED, quota, undefined, memoryNotWritten);
    if ('error' in cgroups) {
      problems.push(`${daemon.id}: ${cgroups.error}`);
      continue;
    }
    placed.set(daemon.id, cgroups.joins);
    const joins = leaveCpu === undefined ? cgroups.joins : [...cgroups.joins, leaveCpu];
    // Nothing to move (most daemons when only a limit's value changed): not frozen for it.
    if (alreadyJoined(cgroups.cgroup, joins, read)) continue;
    const result = await moveIntoCgroups(cgroups.cgroup, joins);
    if ('error' in result) restart.set(daemon.id, result.error);
    else moved += result.moved;
  }
  const restarted =
    restart.size === 0
      ? 'none restarted'
      : `restarted ${[...restart].map(([id, why]) => `${id} inside it (its processes could not all be moved: ${why})`).join(', ')}`;
  // Of those it got to: "applied to their 4" was said of a quota the manager's stop cut
  // short before the first (an outside review, 20a).
  const done =
    handled === 0 && daemons.length > 0
      ? 'applied to none of their daemons with processes'
      : `applied to ${handled === daemons.length ? 'their' : `${handled} of their`} ${daemons.length} daemon${daemons.length === 1 ? '' : 's'} with processes (${moved} processes moved, ${restarted})`;
  return problems.length === 0 && !memoryNotWritten
    ? { line: `${head}: ${done}`, warn: restart.size > 0, moved, restart, joins: placed }
    : {
        line: `${head}${problems.length === 0 ? '' : `, but ${problems.join('; ')}`}; otherwise ${done}`,
        warn: true,
        moved,
        restart,
        joins: placed,
      };
}
