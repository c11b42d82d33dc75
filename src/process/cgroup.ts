import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Control groups, used to know every process of a daemon. A process group is left with
 * one `setsid()`, and a double fork then hides from the manager; a cgroup cannot be left
 * without privileges, so stop can find and kill escaped processes too, and `pids.max`
 * bounds a fork bomb. Used where the manager may create cgroups (root, a pids hierarchy
 * of cgroup v1 or a cgroup2 tree); elsewhere (personal mode, most containers) daemons
 * are followed by process group alone.
 */
export interface CgroupTree {
  /** The directory holding one cgroup per daemon, `USER/NAME`. */
  readonly base: string;
  /** Whether `pids.max` can be set (the pids controller is there). */
  readonly limitsPids: boolean;
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
 * Finds a hierarchy where this manager can make cgroups: the v1 pids controller if
 * mounted, else cgroup2. `instance` (the state directory) keeps two managers apart.
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
  const pidsMount = mounts.find(
    (mount) => mount.type === 'cgroup' && mount.superOptions.includes('pids'),
  );
  const pidsPath = ownCgroupPath(own, (controllers) => controllers.split(',').includes('pids'));
  if (pidsMount && pidsPath !== undefined) {
    const tree = tryTree(join(pidsMount.point, pidsPath, tag), true);
    if (tree) return tree;
  }
  const v2Mount = mounts.find((mount) => mount.type === 'cgroup2');
  const v2Path = ownCgroupPath(own, (controllers) => controllers === '');
  if (v2Mount && v2Path !== undefined) return tryTree(join(v2Mount.point, v2Path, tag), false);
  return undefined;
}

function tryTree(base: string, limitsPids: boolean): CgroupTree | undefined {
  try {
    mkdirSync(base, { recursive: true });
    return { base, limitsPids };
  } catch {
    return undefined;
  }
}

/** Creates (if need be) a daemon's cgroup and sets its process limit; its path or a reason. */
export function prepareCgroup(
  tree: CgroupTree,
  id: string,
  pidsMax: number | undefined,
): string | { error: string } {
  const path = join(tree.base, id);
  try {
    mkdirSync(path, { recursive: true });
    if (tree.limitsPids)
      writeFileSync(join(path, 'pids.max'), pidsMax === undefined ? 'max' : String(pidsMax));
    return path;
  } catch (error) {
    return { error: `cannot prepare cgroup ${path} (${(error as NodeJS.ErrnoException).code})` };
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

/** Removes a daemon's empty cgroup (and its user's, once empty). */
export function removeCgroup(tree: CgroupTree, id: string): void {
  for (const path of [join(tree.base, id), join(tree.base, id.slice(0, id.indexOf('/')))]) {
    try {
      rmdirSync(path);
    } catch {
      return; // Not empty yet, or already gone.
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

/** Removes every empty daemon cgroup and the tree itself (at a clean shutdown). */
export function removeTree(tree: CgroupTree): void {
  let users: string[];
  try {
    users = readdirSync(tree.base, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return;
  }
  for (const user of users) {
    try {
      for (const entry of readdirSync(join(tree.base, user), { withFileTypes: true }))
        if (entry.isDirectory()) removeCgroup(tree, `${user}/${entry.name}`);
    } catch {
      // Gone meanwhile.
    }
  }
  try {
    rmdirSync(tree.base);
  } catch {
    // A daemon's processes are still in it.
  }
}
