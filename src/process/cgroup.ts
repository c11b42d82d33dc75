import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
 * `cgroup.kill`. The v1 `pids` controller is joined only by a daemon that has a process
 * limit. Used where the manager may create cgroups (root); elsewhere (personal mode, a
 * host without cgroup2) daemons are followed by process group alone.
 */
export interface CgroupTree {
  /** The cgroup2 directory holding one cgroup per daemon, `USER/NAME`. */
  readonly base: string;
  /** The v1 `pids` hierarchy's directory for this manager, where the controller is mounted. */
  readonly pidsBase: string | undefined;
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
  const tag = `daemon-manager.${fnv1a(instance)}`;
  const v2Mount = mounts.find((mount) => mount.type === 'cgroup2');
  const v2Path = ownCgroupPath(own, (controllers) => controllers === '');
  if (v2Mount === undefined || v2Path === undefined) return undefined;
  const base = join(v2Mount.point, v2Path, tag);
  if (!makeDir(base)) return undefined;
  const pidsMount = mounts.find(
    (mount) => mount.type === 'cgroup' && mount.superOptions.includes('pids'),
  );
  const pidsPath = ownCgroupPath(own, (controllers) => controllers.split(',').includes('pids'));
  const pidsBase =
    pidsMount && pidsPath !== undefined ? join(pidsMount.point, pidsPath, tag) : undefined;
  return { base, pidsBase: pidsBase !== undefined && makeDir(pidsBase) ? pidsBase : undefined };
}

function makeDir(path: string): boolean {
  try {
    mkdirSync(path, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** Where a daemon's processes go: its cgroup2 directory, and v1 cgroups to join. */
export interface DaemonCgroups {
  readonly cgroup: string;
  readonly joins: readonly string[];
}

/** Creates (if need be) a daemon's cgroups; a process limit puts it in a v1 pids cgroup. */
export function prepareCgroup(
  tree: CgroupTree,
  id: string,
  pidsMax: number | undefined,
): DaemonCgroups | { error: string } {
  const path = join(tree.base, id);
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    return { error: `cannot prepare cgroup ${path} (${(error as NodeJS.ErrnoException).code})` };
  }
  if (pidsMax === undefined || tree.pidsBase === undefined) return { cgroup: path, joins: [] };
  const pids = join(tree.pidsBase, id);
  try {
    mkdirSync(pids, { recursive: true });
    writeFileSync(join(pids, 'pids.max'), String(pidsMax));
    return { cgroup: path, joins: [join(pids, 'cgroup.procs')] };
  } catch (error) {
    return { error: `cannot prepare cgroup ${pids} (${(error as NodeJS.ErrnoException).code})` };
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

/** Removes a daemon's empty cgroups (and its user's, once empty). */
export function removeCgroup(tree: CgroupTree, id: string): void {
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
