import { chmodSync, lstatSync } from 'node:fs';
import { makeDirs } from '../files/make-dirs.ts';

/**
 * Makes sure a directory the manager keeps root's files in (sockets, state) is what it
 * should be: a real directory (not a symlink), owned by the manager's user, writable by
 * nobody else. Returns a reason when it is not and cannot be made so.
 */
export function ensurePrivateDir(path: string, mode: number): string | undefined {
  try {
    makeDirs(path, mode);
  } catch (error) {
    return `cannot create ${path} (${(error as NodeJS.ErrnoException).code})`;
  }
  const stats = lstatSync(path);
  if (stats.isSymbolicLink()) return `${path} is a symbolic link; refused`;
  if (!stats.isDirectory()) return `${path} is not a directory`;
  if (stats.uid !== process.geteuid?.())
    return `${path} is owned by uid ${stats.uid}, not by the manager's user`;
  // The manager's umask (077) also applied to mkdir: set the mode asked for.
  if ((stats.mode & 0o777) !== mode) chmodSync(path, mode);
  return undefined;
}
