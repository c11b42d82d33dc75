import { existsSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { readProc } from './proc.ts';

/**
 * Which cgroups a supervisor made for its daemons, seen from outside: a daemon in a
 * cgroup other than its supervisor's was put there by the supervisor, so that cgroup and
 * its parents below the supervisor's own are the supervisor's to remove when it stops.
 */

interface Mount {
  readonly point: string;
  readonly version: 1 | 2;
  readonly options: readonly string[];
}

let mounts: Mount[] | undefined;

/** The cgroup mounts of this machine, from /proc/self/mountinfo (read once). */
function cgroupMounts(): Mount[] {
  if (mounts) return mounts;
  mounts = [];
  for (const line of readProc('/proc/self/mountinfo').split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const point = before.split(' ')[4];
    const [type, , options] = after.split(' ');
    if (point === undefined) continue;
    if (type === 'cgroup2') mounts.push({ point, version: 2, options: [] });
    if (type === 'cgroup') mounts.push({ point, version: 1, options: (options ?? '').split(',') });
  }
  return mounts;
}

/** Where the hierarchy of one /proc/PID/cgroup line (`id:controllers:path`) is mounted. */
function mountOf(controllers: string): Mount | undefined {
  if (controllers === '') return cgroupMounts().find((mount) => mount.version === 2);
  const wanted = controllers.split(',');
  return cgroupMounts().find(
    (mount) => mount.version === 1 && wanted.every((name) => mount.options.includes(name)),
  );
}

/** A process's cgroup path in each hierarchy, by controller list ('' for cgroup2). */
export function cgroupPathsOf(pid: number): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of readProc(`/proc/${pid}/cgroup`).split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first === -1 || second === -1) continue;
    paths.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return paths;
}

/**
 * The cgroup directories a daemon is in that its supervisor is not: for each hierarchy
 * where the two differ, the daemon's directory and its parents below the supervisor's.
 * Deepest first, so that they can be removed in this order.
 */
export function cgroupsMadeFor(daemonPid: number, supervisorPid: number): string[] {
  const own = cgroupPathsOf(supervisorPid);
  const dirs: string[] = [];
  for (const [controllers, path] of cgroupPathsOf(daemonPid)) {
    const above = own.get(controllers);
    if (above === undefined || above === path) continue;
    const mount = mountOf(controllers);
    if (!mount) continue;
    const stop = path.startsWith(`${above.replace(/\/$/, '')}/`) ? above : '/';
    for (let at = path; at !== stop && at !== '/' && at !== ''; at = parentOf(at))
      dirs.push(join(mount.point, at));
  }
  return dirs;
}

/** A short description of where a daemon runs: `pids:/a/b` for each cgroup made for it. */
export function describeCgroups(daemonPid: number, supervisorPid: number): string {
  const own = cgroupPathsOf(supervisorPid);
  return [...cgroupPathsOf(daemonPid)]
    .filter(([controllers, path]) => own.get(controllers) !== path)
    .map(([controllers, path]) => `${controllers === '' ? 'cgroup2' : controllers}:${path}`)
    .join(', ');
}

/**
 * After a stop: the cgroup directories of `dirs` that still exist. They are removed where
 * the kernel allows (an empty cgroup can be), deepest first, and returned either way.
 */
export function removeLeftoverCgroups(dirs: Iterable<string>): string[] {
  const left = [...new Set(dirs)]
    .filter((dir) => existsSync(dir))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  for (const dir of left) {
    try {
      rmdirSync(dir);
    } catch {
      // Not empty (a process lives in it) or a child is left: reported all the same.
    }
  }
  return left;
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}
