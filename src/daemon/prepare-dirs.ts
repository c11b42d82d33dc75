import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Makes sure a directory the manager keeps root's files in (sockets, state) is what it
 * should be: a real directory (not a symlink), owned by the manager's user, writable by
 * nobody else. Returns a reason when it is not and cannot be made so.
 */
export function ensurePrivateDir(
  path: string,
  mode: number,
  judgeAbove: boolean,
): string | undefined {
  const made = makeOwnDirs(resolve(path), mode, judgeAbove);
  if (made !== undefined) return made;
  const stats = lstatSync(path);
  if (stats.isSymbolicLink()) return `${path} is a symbolic link; refused`;
  if (!stats.isDirectory()) return `${path} is not a directory`;
  if (stats.uid !== process.geteuid?.())
    return `${path} is owned by uid ${stats.uid}, not by the manager's user`;
  // The manager's umask (077) also applied to mkdir: set the mode asked for.
  if ((stats.mode & 0o777) !== mode) chmodSync(path, mode);
  return undefined;
}

/**
 * Makes root's daemon and log directories (`daemon-path-daemon-root`, `-log-root`) as
 * `makeOwnDirs` does, each directory judged as it is made, and the path itself root's:
 * judged at a SIGHUP and made later, a path below a directory not there yet was made in
 * the one a user put there meanwhile, and root's daemons' logs written where their link
 * pointed then (an outside review, 42b, F3: 6 of 20 reloads). Why not, if not.
 */
export function makeRootDir(path: string): string | undefined {
  const made = makeOwnDirs(resolve(path), 0o755, true);
  if (made !== undefined) return made;
  const stats = lstatSync(path);
  if (stats.uid !== 0 && stats.uid !== process.geteuid?.())
    return `${path} is not root's (uid ${stats.uid}); another user could choose where the manager writes as root`;
  return undefined;
}

/**
 * Makes `path` and the directories above it that are missing, one at a time from the top,
 * each looked at (`judge`: root's manager) before anything is made in it: root's, others
 * writing only with the sticky bit (a link of another user's refused). Judged first and
 * made after, a path below a directory not there yet was made in the one another user put
 * there meanwhile, or where their link pointed (an outside review, 39a, F5: 6 of 110
 * starts). What the manager made, nobody else may rename: its parent is judged so.
 */
function makeOwnDirs(path: string, mode: number, judge: boolean): string | undefined {
  let at = '/';
  for (const part of path.split('/').filter(Boolean)) {
    const next = join(at, part);
    try {
      mkdirSync(next, { mode });
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code !== 'EEXIST') return `cannot create ${next} (${code})`;
    }
    at = next;
    // The path itself is judged by the caller.
    if (next === path || !judge) continue;
    const stats = lstatSync(next);
    if (stats.uid !== 0 && stats.uid !== process.geteuid?.())
      return `${next} is not root's (uid ${stats.uid}); another user could choose where the manager writes as root`;
    if (!stats.isSymbolicLink() && (stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0)
      return `${next} may be written by others than its owner (mode ${(stats.mode & 0o7777).toString(8)}); another user could choose where the manager writes as root`;
  }
  return undefined;
}
