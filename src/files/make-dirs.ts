import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` of an absolute path, one component at a time. Node's own recursive mkdir
 * spins for ever (at full CPU, deaf to signals) where a directory cannot be created in a
 * parent that exists: a path under /proc. Throws the first error other than EEXIST.
 */
export function makeDirs(path: string, mode = 0o777): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(path) === path) throw error;
  }
  makeDirs(dirname(path), mode);
  try {
    mkdirSync(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
