import { lstatSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../files/make-dirs.ts';
import { CgroupWrites } from './cgroup-writes.ts';

/**
 * Control groups, used to know every process of a daemon. A process group is left with
 * one `setsid()`, and a double fork then hides from the manager; a cgroup cannot be left
 * without privileges, so stop finds and kills escaped processes too.
 *
 * Daemons are tracked in cgroup2 (a pure cgroup2 host, or the `unified` hierarchy of a
 * hybrid one, which has no controllers but all of what tracking needs): the keeper
 * forks each daemon straight into its cgroup (clone3 with CLONE_INTO_CGROUP, no
 * migration: moving a process into a cgroup v1 hierarchy waits for an RCU grace period,
 * 10-20 ms per start), learns that it is empty from `cgroup.events` and kills it with
 * `cgroup.kill`. Controllers (cgroup v1 here) are joined only where a limit needs them:
 * `pids` by a daemon with a process limit (`USER/NAME`) or of a user with a `tasks`
 * quota (`USER` above it); `memory` by the daemons of a user with such a quota (`USER`,
 * the sum of their daemons). No quota, no controller: nothing to pay for. `cpu` is the
 * exception: every user's daemons join their user's (`USER`) unless root turns
 * `cpu-fair-share` off, because without it the scheduler weighs each process alone, and
 * one user's 4,200 busy processes took the CPU from every other user's daemons, their
 * `dmctl status` and their respawns (bench/RESULTS.md, "Attacker workload"). With one
 * group per user below the manager's, CFS group scheduling gives each user with runnable
 * processes the same share (`cpu.shares`), whatever their number of processes.
 * Used where the manager may create cgroups (root); elsewhere (personal mode, a host
 * without cgroup2) daemons are followed by process group alone.
 */
export interface CgroupTree {
  /** The cgroup2 directory holding one cgroup per daemon, `USER/NAME`. */
  readonly base: string;
  /** The v1 `pids` hierarchy's directory for this manager, where the controller is mounted. */
  readonly pidsBase: string | undefined;
  /** The v1 `memory` and `cpu` hierarchies' directories, for users' quotas. */
  readonly memoryBase: string | undefined;
  readonly cpuBase: string | undefined;
}

/** A user's quotas, as the cgroups apply them (see UserQuota). */
export interface CgroupQuota {
  readonly memory: number | undefined;
  readonly cpu: number | undefined;
  readonly tasks: number | undefined;
  /** The user's CPU weight (100 is the default share), when root set one. */
  readonly cpuWeight: number | undefined;
  /** `cpu-fair-share`: the user's daemons join their `cpu` cgroup even without a quota. */
  readonly fairShare: boolean;
}

interface Mount {
  readonly point: string;
  readonly type: string;
  readonly superOptions: readonly string[];
}

/** Parses /proc/self/mountinfo (proc(5)): the mount point, type and super options. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const point = before.split(' ')[4];
    const [type, , options] = after.split(' ');
    if (point !== undefined && type !== undefined)
      mounts.push({ point, type, superOptions: (options ?? '').split(',') });
  }
  return mounts;
}

/** The manager's own cgroup path in a hierarchy, from /proc/self/cgroup (`id:controllers:path`). */
export function ownCgroupPath(
  text: string,
  matches: (controllers: string) => boolean,
): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first === -1 || second === -1) continue;
    if (matches(line.slice(first + 1, second))) return line.slice(second + 1);
  }
  return undefined;
}

/**
 * Finds where this manager can make cgroups: a cgroup2 hierarchy for tracking, and the v1
 * pids controller if mounted. `instance` (the state directory) keeps two managers apart.
 */
export function findCgroupTree(instance: string): CgroupTree | undefined {
  if (process.geteuid?.() !== 0) return undefined;
  let mounts: Mount[];
  let own: string;
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    own = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  const tag = cgroupTag(instance);
  const v2Mount = mounts.find((mount) => mount.type === 'cgroup2');
  const v2Path = ownCgroupPath(own, (controllers) => controllers === '');
  if (v2Mount === undefined || v2Path === undefined) return undefined;
  const base = join(v2Mount.point, v2Path, tag);
  if (!makeDir(base)) return undefined;
  // A v1 controller's directory for this manager, where it is mounted and can be made.
  const v1 = (controller: string): string | undefined => {
    const mount = mounts.find(
      (candidate) => candidate.type === 'cgroup' && candidate.superOptions.includes(controller),
    );
    const path = ownCgroupPath(own, (controllers) => controllers.split(',').includes(controller));
    if (mount === undefined || path === undefined) return undefined;
    const dir = join(mount.point, path, tag);
    return makeDir(dir) ? dir : undefined;
  };
  return { base, pidsBase: v1('pids'), memoryBase: v1('memory'), cpuBase: v1('cpu') };
}

/** The name of the cgroup directory of the manager of this state directory, in every hierarchy. */
export function cgroupTag(instance: string): string {
  return `daemon-manager.${fnv1a(instance)}`;
}

function makeDir(path: string): boolean {
  try {
    makeDirs(path);
    return true;
  } catch {
    return false;
  }
}

/** Where a daemon's processes go: its cgroup2 directory, and v1 cgroups to join. */
export interface DaemonCgroups {
  readonly cgroup: string;
  readonly joins: readonly string[];
  /**
   * The user's memory quota could not be written (`EBUSY`: their processes hold more, a
   * lowering under way or given up): the daemon goes in under the limit in force.
   */
  readonly memoryNotWritten?: true;
}

/** No quota at all. */
export const NO_QUOTA: CgroupQuota = {
  memory: undefined,
  cpu: undefined,
  tasks: undefined,
  cpuWeight: undefined,
  fairShare: false,
};

/**
 * The most `pids.max` takes (PID_MAX_LIMIT on 64 bits); a limit above it is no limit. A
 * user's `limit_nproc=9999999` was refused by the kernel (EINVAL), and the daemon ran with
 * no cgroup at all, its setsid children outliving its stop (found hunting an outside
 * review's finding, 36b, F1).
 */
const PIDS_MAX_LIMIT = 4 * 1024 * 1024;

/** What `pids.max` is given for a limit. */
export function pidsMaxOf(limit: number | undefined): string {
  return limit === undefined || limit > PIDS_MAX_LIMIT ? 'max' : String(limit);
}

/** The scheduler period a `cpu` quota is a share of (100 ms, the kernel's default). */
const CPU_PERIOD_US = 100_000;

/** `cpu.shares` of a weight: 100, the default weight, is 1024, the kernel's default shares. */
export function cpuSharesOf(weight: number | undefined): number {
  return Math.max(2, Math.round(((weight ?? 100) * 1024) / 100));
}

/** Do the user's daemons belong in their `cpu` cgroup (a quota, a weight, or fair share)? */
export function needsCpuGroup(quota: CgroupQuota): boolean {
  return quota.cpu !== undefined || quota.cpuWeight !== undefined || quota.fairShare;
}

/**
 * A running daemon's own process limit as its run started with it: a quota applied to the
 * running daemons leaves it alone, as its RLIMIT_NPROC stays. A `limit-nproc` given along
 * with a quota by a SIGHUP was written into the running daemon's `pids.max`, and one taken
 * away was never lifted there (an outside review); a daemon's limits apply from its next
 * start, its user's quotas at once.
 */
export const AS_STARTED = Symbol('as started');

/**
 * Creates (if need be) a daemon's cgroups: its cgroup2 one, and the v1 ones its process
 * limit and its user's quota need, with their limits written (those `writes` says were
 * written already are not written again). Errors name the file that could not be written.
 */
export function prepareCgroup(
  tree: CgroupTree,
  id: string,
  pidsMax: number | undefined | typeof AS_STARTED,
  quota: CgroupQuota = NO_QUOTA,
  writes: CgroupWrites = new CgroupWrites(),
  /**
   * A memory limit lower than the one there is left for later (`memoryNotWritten`): a
   * stop of the user's is under way, and what it holds goes when it ends.
   */
  lowerMemoryLater = false,
): DaemonCgroups | CgroupRefusal {
  const user = id.slice(0, id.indexOf('/'));
  const path = join(tree.base, id);
  const joins: string[] = [];
  let writing = path;
  let memoryNotWritten: true | undefined;
  try {
    writes.makeDirs(path);
    // Made with its user's cgroup, its name may be taken all the same: looked at each time.
    if (isOtherThanDirectory(path)) return nameTaken(id, path);
    const asStarted = pidsMax === AS_STARTED;
    const ownLimit = asStarted ? undefined : pidsMax;
    if (tree.pidsBase !== undefined && (ownLimit !== undefined || quota.tasks !== undefined)) {
      const own = join(tree.pidsBase, id);
      writing = own;
      const made = writes.makeDirs(own);
      if (isOtherThanDirectory(own)) return nameTaken(id, own);
      writing = join(tree.pidsBase, user, 'pids.max');
      writes.write(writing, pidsMaxOf(quota.tasks));
      writing = join(own, 'pids.max');
      if (!asStarted || made) writes.write(writing, pidsMaxOf(ownLimit));
      joins.push(join(own, 'cgroup.procs'));
    }
    if (tree.cpuBase !== undefined && needsCpuGroup(quota)) {
      const users = join(tree.cpuBase, user);
      writing = users;
      writes.makeDirs(users);
      // Each written when it changes, so that a quota or weight lifted while none of the
      // user's daemons ran is lifted here too (the cgroup outlives them until a stop).
      writing = join(users, 'cpu.shares');
      writes.write(writing, String(cpuSharesOf(quota.cpuWeight)));
      writing = join(users, 'cpu.cfs_period_us');
      writes.write(writing, String(CPU_PERIOD_US));
      writing = join(users, 'cpu.cfs_quota_us');
      writes.write(
        writing,
        quota.cpu === undefined ? '-1' : String(Math.round((quota.cpu * CPU_PERIOD_US) / 100)),
      );
      joins.push(join(users, 'cgroup.procs'));
    }
    // The memory limit last: a v1 kernel refuses one below what the user's processes
    // hold (EBUSY), and the other limits are written all the same.
    if (tree.memoryBase !== undefined && quota.memory !== undefined) {
      const users = join(tree.memoryBase, user);
      writing = users;
      writes.makeDirs(users);
      writing = join(users, 'memory.limit_in_bytes');
      try {
        if (lowerMemoryLater && quota.memory < memoryLimitOf(writing)) memoryNotWritten = true;
        else writes.write(writing, String(quota.memory));
      } catch (error) {
        // Below what the user's processes hold: the lowering's to bring it under (see
        // daemon/memory-lowering.ts). Refused for it, the daemons a lowering killed, or
        // stopped, never came back, even once what held the memory was gone (an outside
        // review, 20a).
        if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
        memoryNotWritten = true;
      }
      joins.push(join(users, 'cgroup.procs'));
    }
  } catch (error) {
    return { error: `cannot prepare cgroup ${writing} (${(error as NodeJS.ErrnoException).code})` };
  }
  return { cgroup: path, joins, ...(memoryNotWritten ? { memoryNotWritten } : {}) };
}

/** The memory limit written in a v1 `memory.limit_in_bytes` (none, or unreadable: the largest number). */
export function memoryLimitOf(file: string): number {
  try {
    return Number(readFileSync(file, 'latin1').trim());
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

/**
 * A daemon's cgroup that cannot be made: `nameTaken` when its name is that of a file of
 * the kernel's in its user's cgroup (`cgroup.procs`, `pids.max`, `tasks` ...). Run without
 * its cgroup, such a daemon's `setsid` children outlived its stop, found by nothing (an
 * outside review, 36b, F1): it is refused instead, whatever files a kernel adds later.
 */
export interface CgroupRefusal {
  readonly error: string;
  readonly nameTaken?: true;
}

function nameTaken(id: string, path: string): CgroupRefusal {
  const name = id.slice(id.indexOf('/') + 1);
  return {
    error: `its name '${name}' is that of a file of the kernel's cgroup interface (${path}), so it cannot have a cgroup of its own: rename its file`,
    nameTaken: true,
  };
}

/** There, and not a directory (one gone meanwhile, removed by a release, is made again later). */
function isOtherThanDirectory(path: string): boolean {
  try {
    return !lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** What a quota misses on this host: the controllers it needs that are not mounted here. */
export function missingControllers(tree: CgroupTree | undefined, quota: CgroupQuota): string[] {
  const missing: string[] = [];
  if (quota.memory !== undefined && tree?.memoryBase === undefined) missing.push('memory');
  // Fair share alone needs nothing: without the controller it does nothing (said at start).
  if ((quota.cpu !== undefined || quota.cpuWeight !== undefined) && tree?.cpuBase === undefined)
    missing.push('cpu');
  if (quota.tasks !== undefined && tree?.pidsBase === undefined) missing.push('pids');
  return missing;
}

/** How many times the OOM killer has killed in a user's memory cgroup (0 without one). */
export function oomKills(tree: CgroupTree | undefined, user: string): number {
  if (tree?.memoryBase === undefined) return 0;
  try {
    const text = readFileSync(join(tree.memoryBase, user, 'memory.oom_control'), 'latin1');
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The processes in a cgroup (exited ones leave it at once, zombies included). */
export function cgroupMembers(path: string): number[] {
  try {
    return readFileSync(join(path, 'cgroup.procs'), 'latin1')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The processes in a cgroup and in the cgroups right below it (a run's, its checks'). */
export function runMembers(path: string): number[] {
  return [path, ...cgroupChildren(path)].flatMap(cgroupMembers);
}

/** The cgroups right below one (a daemon's run cgroups). */
export function cgroupChildren(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(path, entry.name));
  } catch {
    return [];
  }
}

/**
 * Removes a daemon's empty cgroups (and its user's, once empty, unless `keepUser`: a run
 * of theirs is being launched into them).
 */
export function removeCgroup(tree: CgroupTree, id: string, keepUser = false): void {
  // A user's quota cgroups, once none of their daemons is in them.
  for (const base of keepUser ? [] : [tree.memoryBase, tree.cpuBase]) {
    if (base === undefined) continue;
    try {
      rmdirSync(join(base, id.slice(0, id.indexOf('/'))));
    } catch {
      // Not empty yet, or never made.
    }
  }
  for (const base of [tree.base, tree.pidsBase]) {
    if (base === undefined) continue;
    for (const leaf of base === tree.base ? cgroupChildren(join(base, id)) : []) {
      try {
        rmdirSync(leaf);
      } catch {
        // A run's processes are still in it.
      }
    }
    for (const path of [join(base, id), join(base, id.slice(0, id.indexOf('/')))]) {
      try {
        rmdirSync(path);
      } catch {
        break; // Not empty yet, or already gone.
      }
    }
  }
}

/** A short stable tag for a string (FNV-1a, 32 bits): loading node:crypto would cost megabytes. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** Removes every empty daemon cgroup and the trees themselves (at a clean shutdown). */
export function removeTree(tree: CgroupTree): void {
  for (const base of [tree.memoryBase, tree.cpuBase]) {
    if (base === undefined) continue;
    try {
      for (const user of readdirSync(base, { withFileTypes: true }))
        if (user.isDirectory()) removeCgroup(tree, `${user.name}/-`);
      rmdirSync(base);
    } catch {
      // Gone, or a daemon's processes are still in it.
    }
  }
  for (const base of [tree.base, tree.pidsBase]) {
    if (base === undefined) continue;
    let users: string[];
    try {
      users = readdirSync(base, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      continue;
    }
    for (const user of users) {
      try {
        for (const entry of readdirSync(join(base, user), { withFileTypes: true }))
          if (entry.isDirectory()) removeCgroup(tree, `${user}/${entry.name}`);
      } catch {
        // Gone meanwhile.
      }
    }
    try {
      rmdirSync(base);
    } catch {
      // A daemon's processes are still in it.
    }
  }
}
